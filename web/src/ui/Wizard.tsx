// Create a worker from a template (guide: "Creating Your First Worker"): choose a
// template → configure (pre-filled with its defaults) → review → Create Worker.
import { useEffect, useState } from 'preact/hooks';
import { Api } from '../api';
import { defaultSettings, MODE_TEXT, overridesFor, PRIORITY_RULES, settingsProblem, summaryLines, WIZARD_STEPS, type WizardSettings, type WizardStep } from '../logic/wizard';
import { EXECUTION_MODES, PRIORITIES, SCOPES, WORKER_MODES, type Template, type Worker } from '../types';
import { Modal } from './dialogs';

interface Props {
  api: Api;
  accounts: string[];
  nodes: string[];
  onClose: () => void;
  onCreated: (w: Worker) => void;
}

const STEP_TITLE: Record<WizardStep, string> = { template: 'Choose Template', configure: 'Configure Settings', review: 'Review Summary' };

export function Wizard(p: Props) {
  const [templates, setTemplates] = useState<Template[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [step, setStep] = useState<WizardStep>('template');
  const [chosen, setChosen] = useState<Template | null>(null);
  const [s, setS] = useState<WizardSettings | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    p.api.templates().then(setTemplates, (e) => setLoadError(e instanceof Error ? e.message : String(e)));
  }, []);

  const choose = (t: Template) => {
    setChosen(t);
    setS(defaultSettings(t));
  };
  const set = (patch: Partial<WizardSettings>) => setS((cur) => (cur ? { ...cur, ...patch } : cur));
  const problem = s ? settingsProblem(s) : 'Choose a template.';

  async function create() {
    if (!chosen || !s) return;
    setBusy(true);
    setError(null);
    try {
      const { data } = await p.api.createFromTemplate(chosen.id, overridesFor(s));
      p.onCreated(data);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      setBusy(false);
    }
  }

  const index = WIZARD_STEPS.indexOf(step);
  return (
    <Modal testid="wizard" title="+ AI PROTOCOL — new worker" wide onClose={p.onClose}>
      <div class="steps" data-testid="wizard-steps">
        {WIZARD_STEPS.map((st, i) => (
          <span key={st} class={st === step ? 'on' : ''} data-testid={`wizard-step-${st}`}>
            {i + 1}. {STEP_TITLE[st]}
            {i < WIZARD_STEPS.length - 1 ? '  →' : ''}
          </span>
        ))}
      </div>

      {step === 'template' && (
        <div class="templates" data-testid="wizard-templates">
          {loadError && <div class="error-text">{loadError}</div>}
          {!templates && !loadError && <div class="muted">Loading templates…</div>}
          {templates?.map((t) => (
            <button
              key={t.id}
              class={`template${chosen?.id === t.id ? ' selected' : ''}`}
              data-testid={`wizard-template-${t.id}`}
              aria-pressed={chosen?.id === t.id}
              onClick={() => choose(t)}
              onDblClick={() => {
                choose(t);
                setStep('configure');
              }}
            >
              <span class="name">
                {t.icon} {t.name}
              </span>
              <span class="muted">
                {cap(t.executionMode)} + {cap(t.priority)} · {t.mode}
              </span>
              <span class="muted" style={{ fontSize: '12px' }}>
                {t.description}
              </span>
            </button>
          ))}
        </div>
      )}

      {step === 'configure' && s && chosen && (
        <div class="form" data-testid="wizard-configure">
          <span>Template</span>
          <span>
            {chosen.icon} {chosen.name}
          </span>
          <span>Execution Mode</span>
          <Radios name="wizard-mode" values={EXECUTION_MODES} value={s.executionMode} onChange={(v) => set({ executionMode: v })} />
          <span />
          <span class="muted">{MODE_TEXT[s.executionMode]}</span>
          {s.executionMode === 'exclusive' && (
            <>
              <span>Assigned Node</span>
              <input data-testid="wizard-assigned-node" list="wizard-nodes" value={s.assignedNode} placeholder="s-0001" onInput={(e) => set({ assignedNode: val(e) })} />
            </>
          )}
          <span>Priority</span>
          <Radios name="wizard-priority" values={PRIORITIES} value={s.priority} onChange={(v) => set({ priority: v })} />
          <span />
          <span class="muted">
            {PRIORITY_RULES[s.priority].errors} errors before stop, {PRIORITY_RULES[s.priority].delay} between iterations, {PRIORITY_RULES[s.priority].order}
          </span>
          <span>Worker Mode</span>
          <Radios name="wizard-worker-mode" values={WORKER_MODES} value={s.mode} onChange={(v) => set({ mode: v })} />
          <span>Scope</span>
          <Radios name="wizard-scope" values={SCOPES} value={s.scope} onChange={(v) => set({ scope: v })} />
          <span>Account ID</span>
          <input data-testid="wizard-account" list="wizard-accounts" value={s.accountId} placeholder="g-bhts (optional)" onInput={(e) => set({ accountId: val(e) })} />
          <span>Description</span>
          <input data-testid="wizard-note" value={s.note} onInput={(e) => set({ note: val(e) })} />
          <datalist id="wizard-accounts">
            {p.accounts.map((a) => (
              <option key={a} value={a} />
            ))}
          </datalist>
          <datalist id="wizard-nodes">
            {p.nodes.map((n) => (
              <option key={n} value={n} />
            ))}
          </datalist>
        </div>
      )}

      {step === 'review' && s && chosen && (
        <ul class="summary" data-testid="wizard-summary">
          <li>
            {chosen.icon} <strong>{chosen.name}</strong> — {s.note}
          </li>
          {summaryLines(s).map((l) => (
            <li key={l}>{l}</li>
          ))}
        </ul>
      )}

      {(error || (step !== 'template' && problem)) && (
        <div class="error-text" data-testid="wizard-error">
          {error ?? problem}
        </div>
      )}
      <div class="actions">
        <button data-testid="wizard-cancel" onClick={p.onClose}>
          Cancel
        </button>
        {index > 0 && (
          <button data-testid="wizard-back" onClick={() => setStep(WIZARD_STEPS[index - 1])}>
            Back
          </button>
        )}
        {step !== 'review' ? (
          <button class="primary" data-testid="wizard-next" disabled={!chosen || (step === 'configure' && Boolean(problem))} onClick={() => setStep(WIZARD_STEPS[index + 1])}>
            Next
          </button>
        ) : (
          <button class="primary" data-testid="wizard-create" disabled={busy || Boolean(problem)} onClick={create}>
            {busy ? 'Creating…' : 'Create Worker'}
          </button>
        )}
      </div>
    </Modal>
  );
}

function Radios<T extends string>(props: { name: string; values: readonly T[]; value: T; onChange: (v: T) => void }) {
  return (
    <div class="radios" role="radiogroup" data-testid={props.name}>
      {props.values.map((v) => (
        <label key={v}>
          <input type="radio" name={props.name} value={v} data-testid={`${props.name}-${v}`} checked={props.value === v} onChange={() => props.onChange(v)} /> {cap(v)}
        </label>
      ))}
    </div>
  );
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const val = (e: Event) => (e.target as HTMLInputElement).value;
