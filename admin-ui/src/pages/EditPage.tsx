// Placeholder: replaced by the screen's owner.
export function EditPage() {
  return <p>EditPage</p>;
}
