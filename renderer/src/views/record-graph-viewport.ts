/**
 * Pan and zoom for the record graph: the transform lives in a ref and is applied straight to the
 * drawing (an SVG group's attribute or a canvas redraw), so panning never re-renders React.
 */
import { useCallback, useEffect, useRef } from 'react';
import type { RefObject } from 'react';

export interface Transform {
  x: number;
  y: number;
  k: number;
}

const MIN_K = 0.01;
const MAX_K = 3;

export interface Viewport {
  get(): Transform;
  set(t: Transform): void;
  fit(width: number, height: number): void;
  centerOn(x: number, y: number, k?: number): void;
  zoomBy(factor: number): void;
  /** True right after a drag, so the click that ends it does not select. */
  dragged(): boolean;
}

export function useViewport(container: RefObject<HTMLElement>, apply: (t: Transform) => void): Viewport {
  const t = useRef<Transform>({ x: 0, y: 0, k: 1 });
  const applyRef = useRef(apply);
  applyRef.current = apply;
  const moved = useRef(false);
  const set = useCallback((next: Transform) => {
    t.current = { x: next.x, y: next.y, k: Math.min(MAX_K, Math.max(MIN_K, next.k)) };
    applyRef.current(t.current);
  }, []);
  const size = () => {
    const el = container.current;
    return { w: el?.clientWidth || 800, h: el?.clientHeight || 500 };
  };
  const fit = useCallback((width: number, height: number) => {
    const { w, h } = size();
    const k = Math.min(1.2, Math.max(MIN_K, Math.min((w - 40) / Math.max(1, width), (h - 40) / Math.max(1, height))));
    set({ k, x: (w - width * k) / 2, y: (h - height * k) / 2 });
    // container is a ref: stable
  }, []);
  const centerOn = useCallback((x: number, y: number, k = t.current.k) => {
    const { w, h } = size();
    set({ k, x: w / 2 - x * k, y: h / 2 - y * k });
  }, []);
  const zoomBy = useCallback((factor: number) => {
    const { w, h } = size();
    const cur = t.current;
    const k = Math.min(MAX_K, Math.max(MIN_K, cur.k * factor));
    set({ k, x: w / 2 - ((w / 2 - cur.x) / cur.k) * k, y: h / 2 - ((h / 2 - cur.y) / cur.k) * k });
  }, []);

  useEffect(() => {
    const el = container.current;
    if (!el) return;
    // Wheel zooms about the pointer; a native non-passive listener, so the page does not scroll.
    const onWheel = (e: WheelEvent) => {
      e.preventDefault();
      const r = el.getBoundingClientRect();
      const px = e.clientX - r.left;
      const py = e.clientY - r.top;
      const cur = t.current;
      const k = Math.min(MAX_K, Math.max(MIN_K, cur.k * Math.exp(-e.deltaY * 0.0015)));
      set({ k, x: px - ((px - cur.x) / cur.k) * k, y: py - ((py - cur.y) / cur.k) * k });
    };
    let drag: { id: number; sx: number; sy: number; x: number; y: number } | null = null;
    const onDown = (e: PointerEvent) => {
      if (e.button !== 0) return;
      drag = { id: e.pointerId, sx: e.clientX, sy: e.clientY, x: t.current.x, y: t.current.y };
      moved.current = false;
    };
    const onMove = (e: PointerEvent) => {
      if (!drag || e.pointerId !== drag.id) return;
      const dx = e.clientX - drag.sx;
      const dy = e.clientY - drag.sy;
      if (!moved.current && Math.abs(dx) + Math.abs(dy) < 4) return;
      if (!moved.current) el.setPointerCapture(e.pointerId);
      moved.current = true;
      set({ k: t.current.k, x: drag.x + dx, y: drag.y + dy });
    };
    const onUp = (e: PointerEvent) => {
      if (drag && e.pointerId === drag.id) drag = null;
    };
    el.addEventListener('wheel', onWheel, { passive: false });
    el.addEventListener('pointerdown', onDown);
    el.addEventListener('pointermove', onMove);
    el.addEventListener('pointerup', onUp);
    el.addEventListener('pointercancel', onUp);
    return () => {
      el.removeEventListener('wheel', onWheel);
      el.removeEventListener('pointerdown', onDown);
      el.removeEventListener('pointermove', onMove);
      el.removeEventListener('pointerup', onUp);
      el.removeEventListener('pointercancel', onUp);
    };
  }, [container, set]);

  return { get: () => t.current, set, fit, centerOn, zoomBy, dragged: () => moved.current };
}
