// Placeholder: replaced by the screen's owner.
export function MediaPage() {
  return <p>MediaPage</p>;
}
