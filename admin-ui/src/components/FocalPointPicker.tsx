// Picks the point of an image that crops keep in view: click the image, or use the arrow keys on it.
import { useId, type KeyboardEvent, type MouseEvent } from 'react';

const clamp = (n: number) => Math.min(1, Math.max(0, Math.round(n * 1000) / 1000));

/** Click/keyboard (arrow keys) on the image sets the focal point (0..1, 0..1); shows a marker. Labelled. */
export function FocalPointPicker(props: { src: string; value?: { x: number; y: number }; onChange(v: { x: number; y: number }): void; label?: string }) {
  const { src, onChange, label = 'Focal point' } = props;
  const value = props.value ?? { x: 0.5, y: 0.5 };
  const id = useId();
  const pct = (n: number) => Math.round(n * 100);

  const onClick = (e: MouseEvent<HTMLDivElement>) => {
    const box = e.currentTarget.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) return;
    onChange({ x: clamp((e.clientX - box.left) / box.width), y: clamp((e.clientY - box.top) / box.height) });
  };
  const onKey = (e: KeyboardEvent<HTMLDivElement>) => {
    const step = e.shiftKey ? 0.1 : 0.02;
    const moves: Record<string, [number, number]> = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    const move = moves[e.key];
    if (!move) return;
    e.preventDefault();
    onChange({ x: clamp(value.x + move[0]), y: clamp(value.y + move[1]) });
  };
  const setAxis = (axis: 'x' | 'y', text: string) => {
    const n = Number(text);
    if (text === '' || !Number.isFinite(n)) return;
    onChange({ ...value, [axis]: clamp(n / 100) });
  };

  return (
    <div className="focal-picker" role="group" aria-labelledby={`${id}-label`}>
      <span id={`${id}-label`} className="focal-label">{label}</span>
      <div
        className="focal-image"
        tabIndex={0}
        role="slider"
        aria-label={`${label}: click the image or use the arrow keys`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct(value.x)}
        aria-valuetext={`${pct(value.x)}% from the left, ${pct(value.y)}% from the top`}
        onClick={onClick}
        onKeyDown={onKey}
      >
        <img src={src} alt="" draggable={false} />
        <span className="focal-marker" style={{ left: `${value.x * 100}%`, top: `${value.y * 100}%` }} aria-hidden="true" />
      </div>
      <div className="focal-inputs">
        <label htmlFor={`${id}-x`}>
          Focal point from left (%)
        </label>
        <input id={`${id}-x`} type="number" min={0} max={100} step={1} value={pct(value.x)} onChange={(e) => setAxis('x', e.target.value)} />
        <label htmlFor={`${id}-y`}>
          Focal point from top (%)
        </label>
        <input id={`${id}-y`} type="number" min={0} max={100} step={1} value={pct(value.y)} onChange={(e) => setAxis('y', e.target.value)} />
      </div>
    </div>
  );
}
