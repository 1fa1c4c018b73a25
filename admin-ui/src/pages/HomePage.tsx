// Placeholder: replaced by the screen's owner.
export function HomePage() {
  return <p>HomePage</p>;
}
