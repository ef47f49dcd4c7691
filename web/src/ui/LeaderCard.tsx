// The Leader Election card of a leader-mode worker (guide: "Leader Info Card",
// Workflow 4): leader node, term, elected/renewed times and the lease countdown, which
// ticks every second in the browser and is re-read from the node every
// REFRESH.leaderMs (and at once when the runtime channel reports a leader change).
import { useEffect, useState } from 'preact/hooks';
import { Api } from '../api';
import { clockTime, leaderView } from '../logic/leader';
import { REFRESH } from '../logic/live';
import type { LeaderInfo } from '../types';

export function LeaderCard(props: { api: Api; sid: string; refreshKey: number }) {
  const [info, setInfo] = useState<{ data: LeaderInfo; at: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    let alive = true;
    const load = () =>
      props.api.leader(props.sid).then(
        (data) => alive && (setInfo({ data, at: Date.now() }), setError(null)),
        (e) => alive && setError(e instanceof Error ? e.message : String(e)),
      );
    void load();
    const poll = window.setInterval(() => document.visibilityState !== 'hidden' && void load(), REFRESH.leaderMs);
    return () => {
      alive = false;
      window.clearInterval(poll);
    };
  }, [props.sid, props.refreshKey]);

  useEffect(() => {
    const tick = window.setInterval(() => setNow(Date.now()), 1000);
    return () => window.clearInterval(tick);
  }, []);

  const v = info ? leaderView(info.data, info.at, now) : null;
  return (
    <div class="section" data-testid="leader-card" data-state={v?.state ?? 'loading'}>
      <h3>👑 Leader Election</h3>
      {error && <div class="error-text">{error}</div>}
      {!v && !error && <div class="muted">Loading…</div>}
      {v && (
        <dl class="leader-card">
          <Pair label="Status" testid="leader-status" tone={v.tone} value={v.statusText} />
          <Pair label="Leader Node" testid="leader-node" value={v.leaderNode ?? '—'} />
          <Pair label="Term" testid="leader-term" value={v.term === null ? '—' : String(v.term)} />
          <Pair label="Elected At" testid="leader-elected-at" value={clockTime(v.electedAt)} />
          <Pair label="Last Renewed" testid="leader-renewed-at" value={clockTime(v.renewedAt)} />
          <Pair label="Expires In" testid="leader-expires" tone={v.tone} value={v.expiresInText} />
          {v.note && (
            <div>
              <dd class="muted" data-testid="leader-note">
                {v.note}
              </dd>
            </div>
          )}
        </dl>
      )}
    </div>
  );
}

function Pair(props: { label: string; value: string; testid: string; tone?: string }) {
  return (
    <div>
      <dt>{props.label}</dt>
      <dd data-testid={props.testid} class={props.tone ? `tone-${props.tone} toned` : undefined}>
        {props.value}
      </dd>
    </div>
  );
}
