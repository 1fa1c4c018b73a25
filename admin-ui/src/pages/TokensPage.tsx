// Placeholder: replaced by the screen's owner.
export function TokensPage() {
  return <p>TokensPage</p>;
}
