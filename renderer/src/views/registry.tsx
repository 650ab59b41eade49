/**
 * The registry browser: a repository's tags in a sortable table (form, kind, media types, bytes,
 * newest date, digest, shared manifests). A tag opens with a click; two ticked tags are diffed; a
 * tag's manifest is deleted only after a confirmation that names every tag going with it. A login
 * form stores credentials through the engine; this view only ever sees "logged in as …".
 */
import { useMemo, useState } from 'react';
import type { FormEvent } from 'react';
import type { ColumnDef } from '@tanstack/react-table';
import type { RegistryTagRow } from '../../../shared/contract/index';
import { Bytes } from '../components/bytes';
import { Digest } from '../components/digest';
import { Modal } from '../components/modal';
import { VirtualTable } from '../components/virtual-table';
import { plural } from '../format';
import { registryOf, registryStore, useRegistry } from '../stores/registry-store';
import './registry.css';

const FORM_TITLE: Record<string, string> = {
  index: 'cache manifest in the OCI index form (image-manifest=false)',
  'image-manifest': 'cache manifest in the image-manifest form (image-manifest=true)',
  'legacy-index': "BuildKit's 2017 annotated index",
  image: 'an image manifest',
  'image-index': 'a multi-platform image index',
  other: 'something else',
};

function types(r: RegistryTagRow): string {
  if (!r.family) return '–';
  const family = r.family === 'oci' ? 'OCI' : r.family === 'docker' ? 'Docker' : 'mixed';
  return r.compressions.length > 0 ? `${family} ${r.compressions.join('+')}` : family;
}

/** `2025-01-02 03:04:05Z` for the table: the full nanosecond string is in the title. */
function shortTime(t: string | null): string {
  return t ? t.replace('T', ' ').replace(/\.\d+(?=Z|[+-]\d\d:\d\d$)/, '') : '–';
}

interface Row extends RegistryTagRow {
  i: number;
}

function columnsFor(picked: string[], onOpen: (r: Row) => void, onDelete: (r: Row) => void): ColumnDef<Row, unknown>[] {
  return [
    {
      id: 'pick',
      header: 'Diff',
      enableSorting: false,
      cell: (c) => {
        const r = c.row.original;
        const at = picked.indexOf(r.tag);
        return (
          <label className="pick" title="Tick two tags to compare them">
            <input type="checkbox" checked={at >= 0} disabled={!r.digest} onChange={() => registryStore.getState().togglePick(r.tag)} data-testid="tag-pick" aria-label={`compare ${r.tag}`} onClick={(e) => e.stopPropagation()} />
            {at >= 0 ? <span className="badge sel">{at === 0 ? 'A' : 'B'}</span> : null}
          </label>
        );
      },
    },
    {
      accessorKey: 'tag',
      header: 'Tag',
      cell: (c) => {
        const r = c.row.original;
        return (
          <button
            type="button"
            className="link tag-open"
            data-testid="tag-open"
            title={r.kind === 'neither' ? `${r.source} is not a cache; opening it will say why` : `Open ${r.source}`}
            onClick={(e) => {
              e.stopPropagation();
              onOpen(r);
            }}
          >
            {r.tag}
          </button>
        );
      },
    },
    { id: 'form', accessorFn: (r) => r.form ?? '', header: 'Form', cell: (c) => <span title={FORM_TITLE[c.row.original.form ?? ''] ?? ''}>{c.row.original.form ?? '–'}</span> },
    {
      id: 'kind',
      accessorFn: (r) => r.kind ?? '',
      header: 'Kind',
      cell: (c) => {
        const k = c.row.original.kind;
        return k ? <span className={`badge kind-${k}`}>{k === 'inline' ? 'inline cache' : k}</span> : <span className="badge missing">unreadable</span>;
      },
    },
    { id: 'types', accessorFn: types, header: 'Media types', cell: (c) => <span className={`badge ${c.row.original.family ?? ''}`} title={c.row.original.mediaType ?? ''}>{types(c.row.original)}</span> },
    { accessorKey: 'layerCount', header: 'Layers', sortingFn: 'basic' },
    { accessorKey: 'totalBytes', header: 'Total', sortingFn: 'basic', cell: (c) => <Bytes n={c.row.original.totalBytes} /> },
    { accessorKey: 'uniqueBytes', header: 'Unique', sortingFn: 'basic', cell: (c) => <Bytes n={c.row.original.uniqueBytes} /> },
    {
      id: 'createdAt',
      accessorFn: (r) => r.createdAt ?? '',
      header: 'Newest created',
      // Sorted by the full string is wrong for fractions of varying length, but these are UTC RFC 3339 to the second first.
      cell: (c) => <code className="small created" title={c.row.original.createdAt ?? 'no buildkit/createdat'}>{shortTime(c.row.original.createdAt)}</code>,
    },
    { id: 'digest', accessorFn: (r) => r.digest ?? '', header: 'Digest', cell: (c) => <Digest value={c.row.original.digest} copy={false} hex={8} /> },
    {
      id: 'shared',
      accessorFn: (r) => r.sharedWith.join(' '),
      header: 'Shared with',
      cell: (c) => {
        const r = c.row.original;
        if (r.error) return <span className="error-text small" title={r.error}>{r.error}</span>;
        return r.sharedWith.length > 0 ? <span className="badge dup" title={`Deleting ${r.tag} deletes ${r.sharedWith.join(', ')} too`}>{r.sharedWith.join(', ')}</span> : <span className="muted">–</span>;
      },
    },
    {
      id: 'actions',
      header: () => <span className="sr-only">Actions</span>,
      enableSorting: false,
      cell: (c) => (
        <button
          type="button"
          className="small-button"
          data-testid="tag-delete"
          aria-label={`Delete ${c.row.original.tag}…`}
          disabled={!c.row.original.digest}
          onClick={(e) => {
            e.stopPropagation();
            onDelete(c.row.original);
          }}
        >
          Delete…
        </button>
      ),
    },
  ];
}

function DeleteDialog({ row, repository, onClose }: { row: Row; repository: string; onClose: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const shared = row.sharedWith.length > 0;
  const confirm = async () => {
    setBusy(true);
    const refusal = await registryStore.getState().deleteTag(row.tag, shared);
    setBusy(false);
    if (refusal) setError(refusal);
    else onClose();
  };
  return (
    <Modal title={`Delete ${row.tag}?`} onClose={onClose} closable={!busy} testId="tag-delete-dialog">
      <p>
        This deletes the manifest <code className="wrap">{row.digest}</code> from <code className="wrap">{repository}</code> (<code>DELETE /v2/…/manifests/&lt;digest&gt;</code>). The registry drops every tag on it. Blobs stay until the registry's own garbage collection runs.
      </p>
      {shared && (
        <p className="notice warn" data-testid="tag-delete-shared">
          The same manifest is also tagged <strong>{row.sharedWith.join(', ')}</strong>: {row.sharedWith.length === 1 ? 'that tag goes' : 'those tags go'} too.
        </p>
      )}
      {error && (
        <p className="notice bad" role="alert" data-testid="tag-delete-error">
          {error}
        </p>
      )}
      <p className="muted small">This cannot be undone.</p>
      <div className="actions">
        <button type="button" onClick={onClose} disabled={busy}>
          Cancel
        </button>
        <button type="button" className="danger" data-testid="tag-delete-confirm" disabled={busy} onClick={() => void confirm()}>
          {busy ? 'Deleting…' : shared ? `Delete ${plural(row.sharedWith.length + 1, 'tag')}` : `Delete ${row.tag}`}
        </button>
      </div>
    </Modal>
  );
}

/** The login form; `fixed` ties it to `registry` (the export dialog's destination host) and hides the host field. */
export function LoginForm({ registry, fixed = false }: { registry: string; fixed?: boolean }) {
  const loggedInAs = useRegistry((s) => (registry ? s.loggedInAs[registry] : undefined));
  const [target, setTarget] = useState('');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const host = target.trim() || registry;
  const status = useRegistry((s) => (host ? s.loggedInAs[host] : undefined));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!host || !username || !password) return;
    setBusy(true);
    setError(null);
    const refusal = await registryStore.getState().login(host, username, password);
    setBusy(false);
    // The password leaves this form either way: it lives on only in the docker helper or config file.
    setPassword('');
    setError(refusal);
  };
  const shown = status ?? loggedInAs;
  return (
    <form className="registry-login" onSubmit={(e) => void submit(e)} aria-label="Registry login" data-testid="registry-login">
      <div className="form-row">
        {!fixed && (
          <label>
            Registry
            <input value={target} placeholder={registry || 'registry.example:5000'} onChange={(e) => setTarget(e.target.value)} data-testid="login-registry" autoComplete="off" spellCheck={false} />
          </label>
        )}
        <label>
          Username
          <input value={username} onChange={(e) => setUsername(e.target.value)} data-testid="login-username" autoComplete="username" spellCheck={false} />
        </label>
        <label>
          Password or token
          <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} data-testid="login-password" autoComplete="current-password" />
        </label>
        <button type="submit" className="primary" disabled={busy || !host || !username || !password} data-testid="login-submit">
          {busy ? 'Logging in…' : 'Log in'}
        </button>
        {host && shown ? (
          <button type="button" onClick={() => void registryStore.getState().logout(host)} data-testid="logout">
            Log out
          </button>
        ) : null}
      </div>
      {/* Tied to one host (the export dialog), the status is said by the surrounding view. */}
      {!fixed && (
        <p className="muted small login-status" aria-live="polite" data-testid="login-status">
          {host ? (shown ? <>Logged in to <code>{host}</code> as <strong>{shown}</strong>.</> : shown === null ? <>Not logged in to <code>{host}</code>: anonymous access.</> : null) : 'Credentials are checked with the registry, then stored as docker login stores them (credential helper, else config.json).'}
        </p>
      )}
      {error && (
        <p className="notice bad" role="alert" data-testid="login-error">
          {error}
        </p>
      )}
    </form>
  );
}

export function RegistryView() {
  const input = useRegistry((s) => s.input);
  const repository = useRegistry((s) => s.repository);
  const rows = useRegistry((s) => s.rows);
  const loading = useRegistry((s) => s.loading);
  const error = useRegistry((s) => s.error);
  const picked = useRegistry((s) => s.picked);
  const notice = useRegistry((s) => s.notice);
  const [deleting, setDeleting] = useState<Row | null>(null);
  const [selected, setSelected] = useState<number | null>(null);
  const data = useMemo(() => (rows ?? []).map((r, i) => ({ ...r, i })), [rows]);
  const columns = useMemo(() => columnsFor(picked, (r) => void registryStore.getState().openTag(r), setDeleting), [picked]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void registryStore.getState().list();
  };
  const caches = data.filter((r) => r.kind === 'cache').length;
  return (
    <div className="view-fill registry-view" data-testid="registry-view">
      <form className="toolbar" onSubmit={submit} aria-label="Browse a repository">
        <label className="repo-input">
          <span>Repository</span>
          <input value={input} placeholder="registry.example:5000/team/cache" onChange={(e) => registryStore.getState().setInput(e.target.value)} data-testid="registry-input" spellCheck={false} autoComplete="off" />
        </label>
        <button type="submit" className="primary" disabled={loading || !input.trim()} data-testid="registry-list">
          {loading ? 'Listing…' : 'List tags'}
        </button>
        <span className="spacer" />
        <button type="button" disabled={picked.length !== 2} onClick={() => void registryStore.getState().diffPicked()} data-testid="registry-diff" title="Open the two ticked tags and compare them (A = first ticked)">
          {picked.length === 2 ? `Diff ${picked[0]} → ${picked[1]}` : 'Diff (tick two tags)'}
        </button>
      </form>
      <LoginForm registry={registryOf(repository ?? input)} />
      {error && (
        <p className="notice bad" role="alert" data-testid="registry-error">
          {error}
        </p>
      )}
      {notice && (
        <p className="notice ok" data-testid="registry-notice">
          {notice}
        </p>
      )}
      {rows && repository && (
        <p className="muted small registry-summary" data-testid="registry-summary">
          <code>{repository}</code>: {plural(rows.length, 'tag')}, {plural(caches, 'cache')}
        </p>
      )}
      <VirtualTable
        label={repository ? `Tags of ${repository}` : 'Tags'}
        data={data}
        columns={columns}
        rowTestId="tag-row"
        rowKey={(r) => r.i}
        selected={selected}
        onSelect={(r) => setSelected(r.i)}
        template="40px minmax(76px,1fr) 124px 72px 120px 56px 74px 74px 166px 126px minmax(88px,1fr) 96px"
        minWidth={1112}
        empty={rows ? 'This repository has no tags.' : 'Type a repository (registry/repo) and press List tags.'}
      />
      {deleting && repository && <DeleteDialog row={deleting} repository={repository} onClose={() => setDeleting(null)} />}
    </div>
  );
}
