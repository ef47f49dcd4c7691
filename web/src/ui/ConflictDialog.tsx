// The record changed on the node while it was being edited (a save answered 412/409):
// both versions side by side — the script as a diff (theirs left, mine right), the other
// fields in a table — and the user keeps theirs, keeps mine, or merges when the two
// changed different fields.
import { useEffect, useRef } from 'preact/hooks';
import type { Conflict, ConflictChoice } from '../logic/conflict';
import { Modal } from './dialogs';

function show(v: unknown): string {
  if (v === null || v === undefined || v === '') return '—';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

export function ConflictDialog(props: { conflict: Conflict; dark: boolean; busy: boolean; onChoose: (c: ConflictChoice) => void; onCancel: () => void }) {
  const c = props.conflict;
  const diffHost = useRef<HTMLDivElement>(null);
  const scriptDiffers = c.rows.some((r) => r.field === 'script');
  const others = c.rows.filter((r) => r.field !== 'script');

  useEffect(() => {
    if (!scriptDiffers || !diffHost.current) return;
    let disposed = false;
    let view: { dispose(): void } | null = null;
    void import('../editor/monaco').then((m) => {
      if (disposed || !diffHost.current) return;
      view = m.createDiffView(diffHost.current, props.dark, c.theirs.record!.script, c.mine.script);
    });
    return () => {
      disposed = true;
      view?.dispose();
    };
  }, [c]);

  return (
    <Modal testid="conflict-dialog" title="⚠️ The worker changed on the node" wide onClose={props.onCancel}>
      <div>
        Someone (or the node) saved this worker after you opened it. Your changes are not saved yet. Their version: <code>{c.theirs.versionstamp}</code>.
        {c.overlapping.length > 0 ? (
          <span> Both changed: {c.overlapping.join(', ')}.</span>
        ) : (
          <span> You changed different fields: merging keeps both.</span>
        )}
      </div>
      {scriptDiffers && (
        <div>
          <div class="row muted" style={{ fontSize: '12px' }}>
            <span class="grow">Theirs (on the node)</span>
            <span class="grow">Mine (unsaved)</span>
          </div>
          <div class="conflict-diff" ref={diffHost} data-testid="conflict-diff" />
        </div>
      )}
      {others.length > 0 && (
        <table class="conflict-table" data-testid="conflict-fields">
          <thead>
            <tr>
              <th>Field</th>
              <th>Theirs</th>
              <th>Mine</th>
            </tr>
          </thead>
          <tbody>
            {others.map((r) => (
              <tr key={r.field} data-field={r.field}>
                <td>{r.field}</td>
                <td>
                  {show(r.theirs)}
                  {r.changedByThem && <span class="muted"> (changed)</span>}
                </td>
                <td>
                  {show(r.mine)}
                  {r.changedByMe && <span class="muted"> (changed)</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div class="actions">
        <button data-testid="conflict-cancel" onClick={props.onCancel} disabled={props.busy}>
          Cancel
        </button>
        <button data-testid="conflict-keep-theirs" onClick={() => props.onChoose('theirs')} disabled={props.busy}>
          Keep theirs (discard mine)
        </button>
        {c.mergeable && (
          <button data-testid="conflict-merge" onClick={() => props.onChoose('merge')} disabled={props.busy}>
            Merge
          </button>
        )}
        <button class="primary" data-testid="conflict-keep-mine" onClick={() => props.onChoose('mine')} disabled={props.busy}>
          Keep mine (overwrite)
        </button>
      </div>
    </Modal>
  );
}
