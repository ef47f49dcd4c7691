// Windowing for long lists (the worker list must stay fast at 1,000+ workers): only the
// rows in view, plus a few above and below, are in the DOM. Rows have a fixed height.

export interface VirtualWindow {
  start: number; // first row index rendered
  end: number; // one past the last
  offsetTop: number; // px from the top of the list to row `start`
  totalHeight: number; // px of the whole list (the scroll area's height)
}

export function virtualWindow(count: number, rowHeight: number, scrollTop: number, viewportHeight: number, overscan = 6): VirtualWindow {
  const totalHeight = count * rowHeight;
  if (count === 0 || rowHeight <= 0) return { start: 0, end: 0, offsetTop: 0, totalHeight };
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const visible = Math.ceil(Math.max(0, viewportHeight) / rowHeight) + 1;
  const start = Math.max(0, Math.min(count - 1, first - overscan));
  const end = Math.min(count, first + visible + overscan);
  return { start, end, offsetTop: start * rowHeight, totalHeight };
}

// The scrollTop that brings row `index` into view (unchanged when it is already).
export function scrollToRow(index: number, rowHeight: number, scrollTop: number, viewportHeight: number): number {
  const top = index * rowHeight;
  if (top < scrollTop) return top;
  if (top + rowHeight > scrollTop + viewportHeight) return top + rowHeight - viewportHeight;
  return scrollTop;
}
