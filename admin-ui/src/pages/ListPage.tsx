// Placeholder: replaced by the screen's owner.
export function ListPage() {
  return <p>ListPage</p>;
}
