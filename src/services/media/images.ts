// The image pipeline (sharp): check an upload, make its placeholder, render variants.
// Everything we generate is auto-oriented and carries no metadata (sharp drops EXIF, GPS included,
// unless asked to keep it, and we never ask).
import sharp, { type Metadata } from 'sharp';
import { rgbaToThumbHash } from 'thumbhash';
import type { FocalPoint } from '../../storage/media.js';

export interface ImageLimits {
  maxPixels: number;
  maxFrames: number;
}

export interface ImageFacts {
  width: number;
  height: number;
  pages: number;
  placeholder: string;
}

/** Why an image was refused, in words a client can act on. */
export class ImageRejected extends Error {
  constructor(
    readonly reason: 'too-many-pixels' | 'too-many-frames' | 'corrupt',
    message: string,
  ) {
    super(message);
    this.name = 'ImageRejected';
  }
}

/** Formats sharp decodes here and we resize; SVG is deliberately not among them. */
export const RASTER_TYPES = new Set(['image/jpeg', 'image/png', 'image/webp', 'image/avif', 'image/gif', 'image/tiff', 'image/heic', 'image/heif']);

const open = (path: string, limits: ImageLimits) =>
  sharp(path, { limitInputPixels: limits.maxPixels, failOn: 'warning', sequentialRead: true, animated: false });

function rejected(err: unknown): ImageRejected {
  const message = (err as Error).message ?? String(err);
  if (/pixel limit/i.test(message)) return new ImageRejected('too-many-pixels', 'The image has more pixels than allowed');
  return new ImageRejected('corrupt', `The image cannot be decoded: ${message.split('\n')[0]}`);
}

/**
 * Reads the header (size, frames: cheap, bounded by the pixel limit before any decoding), then
 * decodes the whole first frame once, small, which both proves the file is intact (a truncated
 * JPEG fails here) and gives the placeholder.
 */
export async function inspectImage(path: string, limits: ImageLimits): Promise<ImageFacts> {
  let meta: Metadata;
  try {
    meta = await open(path, limits).metadata();
  } catch (err) {
    throw rejected(err);
  }
  const pages = meta.pages ?? 1;
  if (pages > limits.maxFrames) throw new ImageRejected('too-many-frames', `The image has ${pages} frames; at most ${limits.maxFrames} are allowed`);
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  if (!width || !height) throw new ImageRejected('corrupt', 'The image has no size');
  try {
    const { data, info } = await open(path, limits)
      .rotate()
      .resize(100, 100, { fit: 'inside' })
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    const placeholder = Buffer.from(rgbaToThumbHash(info.width, info.height, data)).toString('base64');
    return { width, height, pages, placeholder };
  } catch (err) {
    throw rejected(err);
  }
}

export type Fit = 'cover' | 'contain' | 'inside' | 'fill';
export type OutputFormat = 'webp' | 'avif' | 'jpeg' | 'png';

export interface VariantSpec {
  width?: number;
  height?: number;
  fit: Fit;
  format: OutputFormat;
  quality: number;
}

export const FORMAT_TYPES: Record<OutputFormat, string> = { webp: 'image/webp', avif: 'image/avif', jpeg: 'image/jpeg', png: 'image/png' };

/** Where a `cover` crop of a `sw`×`sh` image to `w`×`h` starts, centred on the focal point. */
export function focalCrop(sw: number, sh: number, w: number, h: number, focal: FocalPoint) {
  const scale = Math.max(w / sw, h / sh);
  const rw = Math.max(w, Math.round(sw * scale));
  const rh = Math.max(h, Math.round(sh * scale));
  const clamp = (v: number, max: number) => Math.min(Math.max(v, 0), max);
  return {
    resize: { width: rw, height: rh },
    left: clamp(Math.round(focal.x * rw - w / 2), rw - w),
    top: clamp(Math.round(focal.y * rh - h / 2), rh - h),
  };
}

/** Renders one variant of the image at `path`. Its size is bounded by the allowlisted widths. */
export async function renderVariant(path: string, source: { width: number; height: number }, spec: VariantSpec, focal: FocalPoint, limits: ImageLimits): Promise<Buffer> {
  let pipeline = open(path, limits).rotate();
  if (spec.fit === 'cover' && spec.width && spec.height) {
    const crop = focalCrop(source.width, source.height, spec.width, spec.height, focal);
    pipeline = pipeline.resize({ ...crop.resize, fit: 'fill' }).extract({ left: crop.left, top: crop.top, width: spec.width, height: spec.height });
  } else if (spec.width || spec.height) {
    pipeline = pipeline.resize({
      ...(spec.width ? { width: spec.width } : {}),
      ...(spec.height ? { height: spec.height } : {}),
      fit: spec.fit,
      withoutEnlargement: true,
    });
  }
  switch (spec.format) {
    case 'webp':
      pipeline = pipeline.webp({ quality: spec.quality });
      break;
    case 'avif':
      pipeline = pipeline.avif({ quality: spec.quality, effort: 2 });
      break;
    case 'jpeg':
      pipeline = pipeline.jpeg({ quality: spec.quality, mozjpeg: true });
      break;
    case 'png':
      pipeline = pipeline.png({ compressionLevel: 8 });
      break;
  }
  try {
    return await pipeline.toBuffer();
  } catch (err) {
    throw rejected(err);
  }
}
