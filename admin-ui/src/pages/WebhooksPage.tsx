// Placeholder: replaced by the screen's owner.
export function WebhooksPage() {
  return <p>WebhooksPage</p>;
}
