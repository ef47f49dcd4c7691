import { describe, expect, it } from 'vitest';
import { defaultSettings, overridesFor, settingsProblem, summaryLines } from '../src/logic/wizard';
import type { Template } from '../src/types';

const grid: Template = {
  id: 'grid-trading', name: 'Grid Trading', description: 'Places a grid', category: 'trading', icon: '📊',
  executionMode: 'leader', priority: 'critical', mode: 'loop', scope: 'network', assignedNode: null,
  dependencies: ['gliesereum'], version: '1.19.2', pack: 'stels',
};
const cleanup: Template = { ...grid, id: 'log-cleanup', name: 'Log Cleanup', executionMode: 'exclusive', priority: 'low', scope: 'local', assignedNode: 's-0001' };

describe('wizard', () => {
  it('step 2 is pre-filled with the template defaults (guide Workflow 1)', () => {
    expect(defaultSettings(grid)).toEqual({
      executionMode: 'leader', priority: 'critical', mode: 'loop', scope: 'network', accountId: '', assignedNode: '', note: 'Grid Trading: Places a grid',
    });
    expect(defaultSettings(cleanup).assignedNode).toBe('s-0001');
  });
  it('step 3 says what the guide says', () => {
    const lines = summaryLines({ ...defaultSettings(grid), accountId: 'g-bhts' });
    expect(lines).toContain('✅ Mode: leader on auto-elected node');
    expect(lines).toContain('✅ Priority: critical (50 errors, 1ms delay)');
    expect(lines).toContain('✅ Worker Mode: loop (engine managed)');
    expect(lines).toContain('✅ Account: g-bhts');
    expect(summaryLines({ ...defaultSettings(grid), priority: 'low', mode: 'single' })).toEqual(
      expect.arrayContaining(['✅ Priority: low (5 errors, 1s delay)', '✅ Worker Mode: single (self-managed loop)']),
    );
    expect(summaryLines({ ...defaultSettings(grid), executionMode: 'parallel' }).some((l) => l.startsWith('⚠️'))).toBe(true);
  });
  it('exclusive mode needs a node', () => {
    expect(settingsProblem({ ...defaultSettings(cleanup), assignedNode: ' ' })).toMatch(/assigned node/);
    expect(settingsProblem(defaultSettings(cleanup))).toBeNull();
  });
  it('the overrides sent are the reviewed settings', () => {
    expect(overridesFor({ ...defaultSettings(grid), accountId: ' g-bhts ' })).toEqual({
      executionMode: 'leader', priority: 'critical', mode: 'loop', scope: 'network', accountId: 'g-bhts', assignedNode: null, note: 'Grid Trading: Places a grid',
    });
    expect(overridesFor(defaultSettings(cleanup))).toMatchObject({ executionMode: 'exclusive', assignedNode: 's-0001', accountId: null });
  });
});
