// Placeholder: replaced by the screen's owner.
export function UsersPage() {
  return <p>UsersPage</p>;
}
