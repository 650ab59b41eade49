/**
 * A sortable, virtualized grid on @tanstack/react-table v8 and @tanstack/react-virtual: only the rows
 * in view (plus a small overscan) are in the DOM, each with a fixed height. Arrow keys (and Page Up/Down,
 * Home, End) move the selection and keyboard focus together: one row at a time is in the Tab order
 * (roving tabindex), the selected one when it is drawn.
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { KeyboardEvent, ReactNode } from 'react';
import { flexRender, getCoreRowModel, getSortedRowModel, useReactTable } from '@tanstack/react-table';
import type { ColumnDef, SortingState } from '@tanstack/react-table';
import { useVirtualizer } from '@tanstack/react-virtual';

export const ROW_HEIGHT = 30;

export interface VirtualTableProps<T> {
  data: T[];
  columns: ColumnDef<T, unknown>[];
  /** data-testid of every row (stable test hook); data-index carries rowKey. */
  rowTestId: string;
  rowKey: (row: T) => number;
  selected?: number | null;
  onSelect?: (row: T) => void;
  rowClass?: (row: T) => string;
  empty?: ReactNode;
  /** CSS grid template for the columns. */
  template: string;
  /** Below this width the grid scrolls sideways instead of squeezing columns. */
  minWidth?: number;
  initialSorting?: SortingState;
  label: string;
}

export function VirtualTable<T>({ data, columns, rowTestId, rowKey, selected, onSelect, rowClass, empty, template, minWidth = 0, initialSorting = [], label }: VirtualTableProps<T>) {
  const [sorting, setSorting] = useState<SortingState>(initialSorting);
  const table = useReactTable({
    data,
    columns,
    state: { sorting },
    onSortingChange: setSorting,
    // First click ascending, second descending, third back to the original order, for every column.
    sortDescFirst: false,
    getCoreRowModel: getCoreRowModel(),
    getSortedRowModel: getSortedRowModel(),
  });
  const rows = table.getRowModel().rows;
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
  });

  // When the selection changes from outside (a dependent clicked, a chain badge), bring its row into view.
  const selectedPos = selected === null || selected === undefined ? -1 : rows.findIndex((r) => rowKey(r.original) === selected);
  useEffect(() => {
    if (selectedPos >= 0) virtualizer.scrollToIndex(selectedPos, { align: 'auto' });
  }, [selectedPos]);

  // The row a key moved to gets focus once it is drawn (it may be scrolled in first).
  const focusPos = useRef<number | null>(null);
  useLayoutEffect(() => {
    if (focusPos.current === null) return;
    const row = scrollRef.current?.querySelector<HTMLElement>(`[role="row"][aria-rowindex="${focusPos.current + 2}"]`);
    if (row) {
      row.focus({ preventScroll: true });
      focusPos.current = null;
    }
  });

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (!onSelect || rows.length === 0 || e.altKey || e.ctrlKey || e.metaKey) return;
    // Keys typed into a control inside a row (none today) stay with the control.
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
    const from = selectedPos < 0 ? -1 : selectedPos;
    const last = rows.length - 1;
    const next =
      e.key === 'ArrowDown' ? Math.min(last, from + 1)
      : e.key === 'ArrowUp' ? Math.max(0, from < 0 ? last : from - 1)
      : e.key === 'PageDown' ? Math.min(last, from + 20)
      : e.key === 'PageUp' ? Math.max(0, from < 0 ? 0 : from - 20)
      : e.key === 'Home' ? 0
      : e.key === 'End' ? last
      : null;
    if (next === null) return;
    e.preventDefault();
    // A drawn row takes focus now; one scrolled in takes it after the render (the selection may not change).
    const row = scrollRef.current?.querySelector<HTMLElement>(`[role="row"][aria-rowindex="${next + 2}"]`);
    focusPos.current = row ? null : next;
    row?.focus({ preventScroll: true });
    virtualizer.scrollToIndex(next, { align: 'auto' });
    onSelect(rows[next].original);
  };

  const items = virtualizer.getVirtualItems();
  // The row in the Tab order: the selection when drawn, else the first drawn row.
  const tabStop = items.some((i) => i.index === selectedPos) ? selectedPos : (items[0]?.index ?? -1);

  return (
    <div className="vtable">
      <div className="vtable-body" ref={scrollRef} role="grid" aria-label={label} aria-rowcount={rows.length + 1} onKeyDown={onKeyDown}>
        <div className="vtable-inner" style={{ minWidth }}>
          {table.getHeaderGroups().map((group) => (
            <div className="vtable-head" role="row" key={group.id} style={{ gridTemplateColumns: template }}>
              {group.headers.map((header) => {
                const dir = header.column.getIsSorted();
                const sortable = header.column.getCanSort();
                return (
                  <div role="columnheader" key={header.id} aria-sort={dir === 'asc' ? 'ascending' : dir === 'desc' ? 'descending' : 'none'} className="vtable-th">
                    {sortable ? (
                      <button type="button" className={dir ? 'sorted' : ''} onClick={header.column.getToggleSortingHandler()} title="Sort by this column">
                        {flexRender(header.column.columnDef.header, header.getContext())}
                        <span className="sort-mark" aria-hidden="true">{dir === 'asc' ? '▲' : dir === 'desc' ? '▼' : ''}</span>
                      </button>
                    ) : (
                      flexRender(header.column.columnDef.header, header.getContext())
                    )}
                  </div>
                );
              })}
            </div>
          ))}
          {rows.length === 0 ? (
            <div role="row">
              <div role="gridcell" className="empty" tabIndex={0}>
                {empty ?? 'Nothing to show.'}
              </div>
            </div>
          ) : (
            <div className="vtable-rows" style={{ height: virtualizer.getTotalSize() }}>
              {items.map((item) => {
                const row = rows[item.index];
                const key = rowKey(row.original);
                const isSelected = selected === key;
                return (
                  <div
                    role="row"
                    key={row.id}
                    aria-rowindex={item.index + 2}
                    aria-selected={isSelected}
                    tabIndex={item.index === tabStop ? 0 : -1}
                    data-testid={rowTestId}
                    data-index={key}
                    className={`vtable-row${isSelected ? ' selected' : ''}${item.index % 2 ? ' odd' : ''} ${rowClass?.(row.original) ?? ''}`}
                    style={{ transform: `translateY(${item.start}px)`, height: ROW_HEIGHT, gridTemplateColumns: template }}
                    onClick={() => onSelect?.(row.original)}
                  >
                    {row.getVisibleCells().map((cell) => (
                      <div role="gridcell" className="vtable-td" key={cell.id}>
                        {flexRender(cell.column.columnDef.cell, cell.getContext())}
                      </div>
                    ))}
                  </div>
                );
              })}
            </div>
          )}
        </div>
      </div>
    </div>
  );
}
