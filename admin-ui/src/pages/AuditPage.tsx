// Placeholder: replaced by the screen's owner.
export function AuditPage() {
  return <p>AuditPage</p>;
}
