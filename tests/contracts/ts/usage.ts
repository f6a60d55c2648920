// Compiled with `tsc --strict` against types generated from /openapi.json (./api),
// schemas/cdm.schema.json (./cdm) and its AuditExportLine (./audit) by
// tests/contracts/test_generated_clients.py. Each
// `@ts-expect-error` line must stay an error: the contract rejects what it forbids.
import type { components, operations } from "./api";
import type { AuditExportLine } from "./audit";
import type {
  GoalCompletedEvent,
  JsonValue,
  OmniHubCanonicalDataModelCDMEvent as CdmEvent,
  PlanGeneratedEvent,
  PlanGeneratedV2Event,
  ToolExecutedEvent,
  ToolExecutedV1Event,
} from "./cdm";

type Schemas = components["schemas"];
type GoalState = Schemas["GoalState"];
type GoalStatus = GoalState["status"];

// A goal's status is a union of literals, not `unknown`.
export function isEnded(goal: GoalState): boolean {
  switch (goal.status) {
    case "completed":
    case "failed":
    case "cancelled":
      return true;
    default:
      return false;
  }
}
export const running: GoalStatus = "running";
// @ts-expect-error: not a goal status
export const finished: GoalStatus = "finished";

// Goal pages list typed summaries.
export function firstId(page: Schemas["GoalPage"]): string | undefined {
  return page.items[0]?.goal_id;
}

// Events from /events and the SSE `data` are one union, narrowed by `event_type`.
type ApiEvent = Schemas["Event"];
export function durationMs(event: ApiEvent): number | null {
  if (event.event_type === "ToolExecuted") {
    return event.payload.duration_ms;
  }
  return null;
}

// One plan step shape: what a client sends is what goal state (and the events) record.
type PlanStep = Schemas["PlanStep"];
export const sent: PlanStep = { id: "s1", tool: "respond_to_user", args: {}, depends_on: [] };
export function toolsOf(goal: GoalState): string[] {
  return (goal.plan ?? []).map((step: PlanStep) => step.tool);
}
export const request: Schemas["GoalRequest"] = { goal: "hi", plan: { steps: [sent], reasoning: "" } };
// @ts-expect-error: the old event names are not a plan step
export const oldStep: PlanStep = { step_id: "s1", tool_name: "respond_to_user" };

// Operations are named; the optional Idempotency-Key header is a plain string.
type Accepted = operations["submitGoal"]["responses"][202]["content"]["application/json"];
export const accepted: Accepted = { goal_id: "g-1", status: "new" };
type SubmitHeaders = NonNullable<operations["submitGoal"]["parameters"]["header"]>;
export const withKey: SubmitHeaders = { "Idempotency-Key": "order-42" };
export const withoutKey: SubmitHeaders = {};
type StreamHeaders = NonNullable<operations["streamGoalEvents"]["parameters"]["header"]>;
export const resume: StreamHeaders = { "Last-Event-ID": "7" };
export const state: operations["getGoal"]["responses"][200]["content"]["application/json"] | null =
  null;

// Errors carry a code from a closed set.
type ErrorCode = Schemas["ErrorDetail"]["code"];
export const ended: ErrorCode = "goal_ended";
// @ts-expect-error: not an error code
export const oops: ErrorCode = "oops";
export const conflict: operations["cancelGoal"]["responses"][409]["content"]["application/json"] = {
  error: { code: "goal_ended", message: "goal 'g-1' has ended already", details: null },
};

// The CDM: a real upcast ToolExecuted whose output is an array, and a null result.
const envelope = {
  causation_id: null,
  correlation_id: "g-1",
  event_id: "0190c0de-0000-7000-8000-000000000001",
  global_position: 3,
  hash: "ab",
  idempotency_key: null,
  occurred_at: "2026-11-27T10:00:00Z",
  prev_hash: "cd",
  recorded_at: "2026-11-27T10:00:00Z",
  stream_id: "g-1",
  stream_version: 3,
  tenant_id: "acme",
} as const;
export const tool: ToolExecutedEvent = {
  ...envelope,
  event_type: "ToolExecuted",
  schema_version: 2,
  payload: { tool_name: "sum", input: {}, output: [1, 2], duration_ms: 1500, attempt: 1, step_id: null },
};
export const done: GoalCompletedEvent = {
  ...envelope,
  event_type: "GoalCompleted",
  schema_version: 1,
  payload: { result: null },
};
export const nested: JsonValue = { a: [true, null, 1.5, "x", { b: [] }] };
// Historic payload versions are part of the union too.
export const old: ToolExecutedV1Event = {
  ...envelope,
  event_type: "ToolExecuted",
  schema_version: 1,
  payload: { tool_name: "sum", input: {}, output: { total: 3 }, duration_s: 1.5 },
};
// PlanGenerated v3 records steps in the one shape; v2 (historic) as step_id/tool_name.
export const planned: PlanGeneratedEvent = {
  ...envelope,
  event_type: "PlanGenerated",
  schema_version: 3,
  payload: {
    plan_id: "p-1",
    source: "client",
    steps: [{ id: "s1", tool: "database_write", args: {}, depends_on: [] }],
    compensations: { s1: "database_delete" },
  },
};
export const plannedV2: PlanGeneratedV2Event = {
  ...envelope,
  event_type: "PlanGenerated",
  schema_version: 2,
  payload: { plan_id: "p-1", source: "client", steps: [{ step_id: "s1", tool_name: "x" }] },
};
export const events: CdmEvent[] = [tool, done, old, planned, plannedV2];
export const typo: ToolExecutedEvent = {
  ...envelope,
  event_type: "ToolExecuted",
  schema_version: 2,
  payload: {
    tool_name: "sum",
    // @ts-expect-error: a typo'd field is not an open index signature
    duraton_ms: 1500,
  },
};

// One line of `omnihub audit export --format jsonl`.
export function hashOf(line: AuditExportLine): string {
  return line.event.event_type + line.hash + line.prev_hash + String(line.global_position);
}
