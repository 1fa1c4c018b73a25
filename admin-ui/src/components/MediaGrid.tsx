// The media library's grid of cards: a thumbnail, the file name, its type, size and dimensions.
import { thumbnailUrl, type MediaItem } from './MediaUploader';
import { formatBytes } from '../format';

const SVG = 'image/svg+xml';

/** A short label for files without a picture: the extension, else the kind. */
function badgeText(item: MediaItem): string {
  const ext = /\.([a-z0-9]{1,5})$/i.exec(item.filename)?.[1];
  return (ext ?? item.kind ?? 'file').toUpperCase();
}

/** What a card can show as a picture: a variant for raster images, the file itself for SVG (only ever as <img>). */
export function previewSrc(item: MediaItem, width = 320): string | undefined {
  if (item.mime === SVG) return item.url;
  return thumbnailUrl(item, width);
}

export function kindLabel(item: MediaItem): string {
  switch (item.kind) {
    case 'image':
      return 'Image';
    case 'video':
      return 'Video';
    case 'audio':
      return 'Audio';
    case 'document':
      return 'Document';
    default:
      return item.mime;
  }
}

export function dimensions(item: MediaItem): string | undefined {
  return item.width && item.height ? `${item.width} × ${item.height}` : undefined;
}

/** A thumbnail, or a tile with the file's extension. */
export function MediaThumb({ item, width = 320 }: { item: MediaItem; width?: number }) {
  const src = previewSrc(item, width);
  if (src) return <img className={`media-thumb${item.mime === SVG ? ' media-thumb-svg' : ''}`} src={src} alt={item.alt ?? ''} loading="lazy" decoding="async" draggable={false} />;
  return (
    <span className={`media-thumb media-thumb-file media-kind-${item.kind ?? 'document'}`} aria-hidden="true">
      {badgeText(item)}
    </span>
  );
}

export function MediaGrid({ items, selectedId, onSelect }: { items: MediaItem[]; selectedId?: string | undefined; onSelect(item: MediaItem): void }) {
  return (
    <ul className="media-grid" aria-label="Media files">
      {items.map((item) => {
        const dims = dimensions(item);
        const selected = item._id === selectedId;
        return (
          <li key={item._id}>
            <button type="button" className={`media-card${selected ? ' media-card-selected' : ''}`} aria-pressed={selected} onClick={() => onSelect(item)} title={item.filename}>
              <span className="media-card-picture">
                <MediaThumb item={item} />
              </span>
              <span className="media-card-name">{item.filename}</span>
              <span className="media-card-facts">
                {kindLabel(item)} · {formatBytes(item.size)}
                {dims && <> · {dims}</>}
              </span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}
