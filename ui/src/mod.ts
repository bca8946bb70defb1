/**
 * The Orchestrator dashboard as web components. Importing this module defines every element (a tag
 * already defined is left alone, so two copies on a page do not clash).
 * @example
 * <script type="module" src="http://127.0.0.1:8100/ui/orchestrator-ui.js"></script>
 * <orchestrator-dashboard server="http://127.0.0.1:8100"></orchestrator-dashboard>
 * @module
 */
import { ActorInspector } from './components/actor-inspector.ts';
import { CachePanel, MachineStats, OutputPreview, UsageChart } from './components/panels.ts';
import { AgentCard } from './components/agent-card.ts';
import { AgentConsole } from './components/agent-console.ts';
import { ConnectionStatusElement, DemoBadge } from './components/connection-status.ts';
import { OrchestratorDashboard } from './components/orchestrator-dashboard.ts';
import { PipelineView } from './components/pipeline-view.ts';
import { SubmitForm } from './components/submit-form.ts';
import { TaskDetailElement } from './components/task-detail.ts';
import { TaskList } from './components/task-list.ts';

export { createClient, getClient, ConnectionStatus } from './client.ts';
export type { Client, ClientOptions, ConsoleLine, StageStep, UsagePoint } from './client.ts';
export { ClientController } from './controller.ts';
export { ActorInspector, CachePanel, MachineStats, OutputPreview, UsageChart, AgentCard, AgentConsole, ConnectionStatusElement, DemoBadge, OrchestratorDashboard, PipelineView, SubmitForm, TaskDetailElement, TaskList };

export const elements = {
  'orchestrator-dashboard': OrchestratorDashboard,
  'agent-card': AgentCard,
  'pipeline-view': PipelineView,
  'agent-console': AgentConsole,
  'task-list': TaskList,
  'task-detail': TaskDetailElement,
  'submit-form': SubmitForm,
  'connection-status': ConnectionStatusElement,
  'demo-badge': DemoBadge,
  'actor-inspector': ActorInspector,
  'output-preview': OutputPreview,
  'cache-panel': CachePanel,
  'usage-chart': UsageChart,
  'machine-stats': MachineStats,
} as const;

for (const [tag, element] of Object.entries(elements)) {
  if (!customElements.get(tag)) customElements.define(tag, element);
}
