/**
 * The export dialog's registry destination: the reference (read by the engine with the CLI's rules;
 * its refusal is shown under the field), BuildKit's `registry.insecure` toggle, who we are logged in
 * as on that host (with the registry view's login form), and the preview's pre-push warnings.
 */
import { useEffect, useState } from 'react';
import type { PushWarning } from '../../../shared/export/types';
import { registryStore, useRegistry } from '../stores/registry-store';
import { LoginForm } from './registry';

export function RegistryReferenceField({ value, insecure, error, onChange, onInsecure }: { value: string; insecure: boolean; error: string | null; onChange: (v: string) => void; onInsecure: (v: boolean) => void }) {
  return (
    <div className="registry-dest">
      <label className="grow">
        <span>
          Registry reference (<code>host[:port]/repository[:tag]</code> or <code>type=registry,ref=…</code>)
        </span>
        <input
          data-testid="export-ref"
          className={error ? 'invalid' : ''}
          value={value}
          spellCheck={false}
          autoComplete="off"
          placeholder="registry.example:5000/team/cache:main"
          aria-invalid={Boolean(error)}
          aria-describedby={error ? 'export-ref-error' : undefined}
          onChange={(e) => onChange(e.target.value)}
          data-autofocus
        />
      </label>
      <label className="insecure-toggle" title="BuildKit's registry.insecure=true: allow plain HTTP (and an unverified certificate is still refused). Loopback registries may use plain HTTP anyway.">
        <input type="checkbox" data-testid="export-insecure" checked={insecure} onChange={(e) => onInsecure(e.target.checked)} />
        <code>registry.insecure</code>
        <span className="small muted" data-testid="export-insecure-value">
          &nbsp;{insecure ? 'true' : 'false'}
        </span>
      </label>
      {error && (
        <p className="error-text ref-error" id="export-ref-error" role="alert" data-testid="export-ref-error">
          {error}
        </p>
      )}
    </div>
  );
}

/** Who we are on the destination's host, and a way to log in without leaving the dialog. */
export function RegistryLoginState({ host }: { host: string | null }) {
  const loggedInAs = useRegistry((s) => (host ? s.loggedInAs[host] : undefined));
  const [open, setOpen] = useState(false);
  useEffect(() => {
    if (!host) return;
    // Asked again whenever the host changes: a login made in the registry view counts here too.
    const t = setTimeout(() => void registryStore.getState().refreshStatus(host), 200);
    return () => clearTimeout(t);
  }, [host]);
  useEffect(() => {
    if (loggedInAs) setOpen(false);
  }, [loggedInAs]);
  if (!host) return null;
  return (
    <div className="registry-login-state" data-testid="export-login">
      <p className="small" aria-live="polite" data-testid="export-login-status">
        {loggedInAs === undefined ? (
          <span className="muted">Checking the login for {host}…</span>
        ) : loggedInAs ? (
          <>
            Logged in to <code>{host}</code> as <strong>{loggedInAs}</strong>.
          </>
        ) : (
          <>
            Not logged in to <code>{host}</code>: the push goes anonymously (a registry that wants a login refuses it).
          </>
        )}{' '}
        <button type="button" className="link" aria-expanded={open} onClick={() => setOpen(!open)} data-testid="export-login-toggle">
          {open ? 'Hide the login form' : loggedInAs ? 'Log in as someone else…' : 'Log in…'}
        </button>
      </p>
      {open && <LoginForm registry={host} fixed />}
    </div>
  );
}

/** The option a warning's fix names, when the dialog can set it with one click. */
export function fixOption(fix: string): { name: 'image-manifest' | 'oci-mediatypes'; value: boolean } | null {
  const m = /\b(image-manifest|oci-mediatypes)=(true|false)\b/.exec(fix);
  return m ? { name: m[1] as 'image-manifest' | 'oci-mediatypes', value: m[2] === 'true' } : null;
}

export function PushWarnings({ warnings, onApply }: { warnings: PushWarning[]; onApply: (fix: { name: 'image-manifest' | 'oci-mediatypes'; value: boolean }) => void }) {
  if (warnings.length === 0) return null;
  return (
    <ul className="push-warnings" data-testid="export-warnings" aria-label="Before the push">
      {warnings.map((w, i) => {
        const fix = fixOption(w.fix);
        return (
          <li key={i} className="notice warn" data-testid="export-warning" data-kind={w.kind}>
            <p className="warning-message">{w.message}</p>
            <p className="warning-fix">
              <strong>Fix:</strong> <code>{w.fix}</code>{' '}
              {fix && (
                <button type="button" className="small-button" onClick={() => onApply(fix)} data-testid="export-warning-apply">
                  Use {fix.name}={String(fix.value)}
                </button>
              )}
            </p>
          </li>
        );
      })}
    </ul>
  );
}
