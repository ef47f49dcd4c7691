// Shapes of the REST API's replies (docs/admin-api.md "Objects", gateway/openapi.json).

export type ExecutionMode = 'parallel' | 'leader' | 'exclusive';
export type Priority = 'critical' | 'high' | 'normal' | 'low';
export type WorkerMode = 'loop' | 'single';
export type Scope = 'local' | 'network';

export const EXECUTION_MODES: ExecutionMode[] = ['parallel', 'leader', 'exclusive'];
export const PRIORITIES: Priority[] = ['critical', 'high', 'normal', 'low'];
export const WORKER_MODES: WorkerMode[] = ['loop', 'single'];
export const SCOPES: Scope[] = ['local', 'network'];

// The compat `raw` record (stels-compat §1).
export interface WorkerRecord {
  sid: string;
  nid: string;
  active: boolean;
  mode: WorkerMode;
  note: string;
  script: string;
  dependencies: string[];
  version: string;
  timestamp: number;
  scope: Scope;
  executionMode: ExecutionMode;
  priority: Priority;
  accountId: string | null;
  assignedNode: string | null;
}

export interface Worker {
  sid: string;
  versionstamp: string | null;
  source: Scope | null;
  running: boolean;
  // running, backing-off, stopped, failed, finished, starting, "waiting: …", invalid
  status: string;
  error?: string;
  record: WorkerRecord | null;
}

// Fields a PATCH may change (docs/admin-api.md workers.update).
export type WorkerChanges = Partial<
  Pick<
    WorkerRecord,
    'script' | 'note' | 'mode' | 'priority' | 'executionMode' | 'scope' | 'accountId' | 'assignedNode' | 'active' | 'dependencies' | 'version'
  >
>;

export interface WorkerStats {
  sid: string;
  started: number | null;
  uptime: number;
  executions: number;
  errors: number;
  networkErrors: number;
  criticalErrors: number;
  consecutiveErrors: number;
  errorRate: string;
  lastError: string | null;
  lastErrorType: 'network' | 'critical' | null;
  lastRun: number | null;
  lastRunAgo: number | null;
  scriptHash: string;
  isRunning: boolean;
  status: string;
  node?: string;
}

export interface Summary {
  totalWorkers: number;
  runningWorkers: number;
  stoppedWorkers: number;
  totalExecutions: number;
  totalErrors: number;
  totalNetworkErrors: number;
  totalCriticalErrors: number;
  timestamp: number;
  workers: WorkerStats[];
  node?: string;
}

export interface ClusterTotals {
  nodes: number;
  totalWorkers: number;
  runningWorkers: number;
  stoppedWorkers: number;
  totalExecutions: number;
  totalErrors: number;
  totalNetworkErrors: number;
  totalCriticalErrors: number;
  errorRate: string;
}

export interface ClusterStats {
  nodes: Record<string, Summary>;
  unreachable: string[];
  totals: ClusterTotals;
}

export interface LeaderInfo {
  workerId: string;
  hasLeader: boolean;
  leader?: string;
  term?: number;
  timestamp?: number;
  expiresAt?: number;
  renewedAt?: number;
  expiresIn?: number;
  isExpired?: boolean;
  message?: string;
  lastTerm?: number;
  lastLeader?: string;
}

export interface MemberNode {
  id: string | null;
  address: string | null;
  state: 'self' | 'up' | 'suspect' | 'down' | 'unknown';
  lastSeenMsAgo: number | null;
  incarnation?: unknown;
}

export interface Members {
  self: string;
  cluster: string | null;
  size: number;
  majority: number;
  nodes: MemberNode[];
}

export interface NodeInfo {
  node: string;
  cluster: string | null;
  network: string;
  version: string;
  startedAt: number;
  uptime: number;
  runSlots: number;
  admin: { listen?: string; auth?: string };
  workersRunning: number;
}

export interface Template {
  id: string;
  name: string;
  description: string;
  category: string;
  icon: string;
  executionMode: ExecutionMode;
  priority: Priority;
  mode: WorkerMode;
  scope: Scope;
  assignedNode: string | null;
  dependencies: string[];
  version: string;
  pack: string;
}

export interface TemplateDetail {
  id: string;
  name: string;
  description: string;
  category: string;
  icon: string;
  defaults: { executionMode: ExecutionMode; priority: Priority; mode: WorkerMode; scope: Scope; assignedNode?: string | null };
  dependencies: string[];
  version: string;
  pack: string;
  script: string;
}

export interface StopAllResult {
  message: string;
  total: number;
  stopped: number;
  failed: number;
  errors: { sid: string; error: string }[];
  workers: { sid: string; status: string }[];
}

export interface Plugins {
  plugins: { id: string; kind: string; path: string; version: string; description: string }[];
  exchanges: { id: string; connector: string; available: boolean; unavailable?: string }[];
  accounts: { id: string; exchange: string }[];
}

export interface LogTail {
  lines: string[];
  cursor: string;
  more: boolean;
}
