// Placeholder: replaced by the screen's owner.
export function LoginPage() {
  return <p>LoginPage</p>;
}
