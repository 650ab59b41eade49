/** A sortable, virtualized table on @tanstack/react-table v8 and @tanstack/react-virtual: only visible rows are in the DOM. */
import { useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { flexRender, getCoreRowModel, getSortedRowModel, useReactTable } from '@tanstack/react-table';
import type { ColumnDef, SortingState } from '@tanstack/react-table';
import { useVirtualizer } from '@tanstack/react-virtual';

export const ROW_HEIGHT = 30;

export interface VirtualTableProps<T> {
  data: T[];
  columns: ColumnDef<T, unknown>[];
  rowTestId: string;
  rowKey: (row: T) => number;
  selected?: number | null;
  onSelect?: (row: T) => void;
  rowClass?: (row: T) => string;
  empty?: ReactNode;
  /** CSS grid template for the columns. */
  template: string;
  /** Below this width the table scrolls sideways instead of squeezing columns. */
  minWidth?: number;
}

export function VirtualTable<T>({ data, columns, rowTestId, rowKey, selected, onSelect, rowClass, empty, template, minWidth = 0 }: VirtualTableProps<T>) {
  const [sorting, setSorting] = useState<SortingState>([]);
  const table = useReactTable({
    data,
    columns,
    state: { sorting },
    onSortingChange: setSorting,
    getCoreRowModel: getCoreRowModel(),
    getSortedRowModel: getSortedRowModel(),
  });
  const rows = table.getRowModel().rows;
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
  });
  const head = table.getHeaderGroups().map((group) => (
    <div className="vtable-head" role="row" key={group.id} style={{ gridTemplateColumns: template }}>
      {group.headers.map((header) => {
        const dir = header.column.getIsSorted();
        return (
          <button type="button" role="columnheader" key={header.id} className={`vtable-th ${dir ? 'sorted' : ''}`} onClick={header.column.getToggleSortingHandler()} title="Sort">
            {flexRender(header.column.columnDef.header, header.getContext())}
            <span className="sort-mark">{dir === 'asc' ? ' ▲' : dir === 'desc' ? ' ▼' : ''}</span>
          </button>
        );
      })}
    </div>
  ));
  // One scroll container for both axes: the header sticks to its top and scrolls sideways with the rows.
  return (
    <div className="vtable" role="table">
      <div className="vtable-body" ref={scrollRef}>
        <div className="vtable-inner" style={{ minWidth }}>
          {head}
          {rows.length === 0 ? (
            <div className="empty">{empty ?? 'Nothing to show.'}</div>
          ) : (
            <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
              {virtualizer.getVirtualItems().map((item) => {
                const row = rows[item.index];
                const key = rowKey(row.original);
                return (
                  <div
                    role="row"
                    key={row.id}
                    data-testid={rowTestId}
                    data-index={key}
                    className={`vtable-row ${selected === key ? 'selected' : ''} ${rowClass?.(row.original) ?? ''}`}
                    style={{ transform: `translateY(${item.start}px)`, height: ROW_HEIGHT, gridTemplateColumns: template }}
                    onClick={() => onSelect?.(row.original)}
                  >
                    {row.getVisibleCells().map((cell) => (
                      <div role="cell" className="vtable-td" key={cell.id}>
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
