// The create-from-template wizard (guide: "Creating Your First Worker"): 1 choose a
// template, 2 configure (execution mode, priority, worker mode, account id, description;
// the assigned node for exclusive), 3 review the summary, then create. The template's
// defaults pre-fill step 2; the summary lines are the guide's.
import type { ExecutionMode, Priority, Scope, Template, WorkerMode } from '../types';

export type WizardStep = 'template' | 'configure' | 'review';
export const WIZARD_STEPS: WizardStep[] = ['template', 'configure', 'review'];

export interface WizardSettings {
  executionMode: ExecutionMode;
  priority: Priority;
  mode: WorkerMode;
  scope: Scope;
  accountId: string;
  assignedNode: string;
  note: string;
}

// The guide's figures per priority (docs/execution.md "Priorities").
export const PRIORITY_RULES: Record<Priority, { errors: number; delay: string; order: string }> = {
  critical: { errors: 50, delay: '1ms', order: 'runs first' },
  high: { errors: 20, delay: '10ms', order: 'runs after critical' },
  normal: { errors: 10, delay: '100ms', order: 'standard priority' },
  low: { errors: 5, delay: '1s', order: 'runs last' },
};

export const MODE_TEXT: Record<ExecutionMode, string> = {
  parallel: 'runs on ALL nodes simultaneously',
  leader: 'runs on ONE node (automatic election)',
  exclusive: 'runs on the assigned node only',
};

// Step 2's starting values: the template's defaults; the note "<name>: <description>"
// as the node would make it.
export function defaultSettings(t: Template): WizardSettings {
  return {
    executionMode: t.executionMode,
    priority: t.priority,
    mode: t.mode,
    scope: t.scope,
    accountId: '',
    assignedNode: t.assignedNode ?? '',
    note: `${t.name}: ${t.description}`,
  };
}

// Why the settings cannot be created yet, or null.
export function settingsProblem(s: WizardSettings): string | null {
  if (s.executionMode === 'exclusive' && !s.assignedNode.trim()) return 'Exclusive mode needs an assigned node.';
  if (s.note.length > 4096) return 'The description is too long.';
  return null;
}

// Step 3: "✅ Mode: leader on auto-elected node", "✅ Priority: critical (50 errors, 1ms delay)",
// "✅ Worker Mode: loop (engine managed)", plus account and scope.
export function summaryLines(s: WizardSettings): string[] {
  const where =
    s.executionMode === 'leader'
      ? 'leader on auto-elected node'
      : s.executionMode === 'exclusive'
        ? `exclusive on ${s.assignedNode.trim() || '(no node)'}`
        : 'parallel on all nodes';
  const rule = PRIORITY_RULES[s.priority];
  const lines = [
    `✅ Mode: ${where}`,
    `✅ Priority: ${s.priority} (${rule.errors} errors, ${rule.delay} delay)`,
    `✅ Worker Mode: ${s.mode === 'loop' ? 'loop (engine managed)' : 'single (self-managed loop)'}`,
    `✅ Scope: ${s.scope === 'network' ? 'network (replicated to every node)' : 'local (this node)'}`,
  ];
  if (s.accountId.trim()) lines.push(`✅ Account: ${s.accountId.trim()}`);
  if (s.executionMode === 'parallel' && /trading|order/i.test(s.note))
    lines.push('⚠️ Parallel mode places orders on every node — use leader mode for trading');
  return lines;
}

// The overrides sent with POST /api/v1/templates/{id}/workers: every setting (so what
// was reviewed is what is created); an empty account / node clears the template's.
export function overridesFor(s: WizardSettings): Record<string, unknown> {
  return {
    executionMode: s.executionMode,
    priority: s.priority,
    mode: s.mode,
    scope: s.scope,
    accountId: s.accountId.trim() || null,
    assignedNode: s.executionMode === 'exclusive' ? s.assignedNode.trim() || null : null,
    note: s.note,
  };
}
