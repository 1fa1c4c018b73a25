// Placeholder: replaced by the screen's owner.
export function SetupPage() {
  return <p>SetupPage</p>;
}
