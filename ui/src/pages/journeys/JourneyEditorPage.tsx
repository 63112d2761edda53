// The journey canvas: a palette dragged onto a React Flow canvas, nodes connected by their
// handles, a side panel for the selected node or the entry, save (a new version), validation
// errors on the nodes they name, status actions and live run counts on each node.
import "@xyflow/react/dist/style.css";
import "./journeys.css";
import { useCallback, useEffect, useMemo, useState, type DragEvent } from "react";
import {
  addEdge, applyEdgeChanges, applyNodeChanges, Background, Controls, MarkerType, ReactFlow, ReactFlowProvider, useReactFlow,
  type Connection, type Edge, type EdgeChange, type Node, type NodeChange,
} from "@xyflow/react";
import { api } from "../../api";
import { useCan } from "../../auth";
import { Badge, ErrorNote, Spinner } from "../../components/ui";
import { useInterval, useLoad } from "../../hooks";
import { Link, navigate } from "../../router";
import { EntryPanel } from "./EntryPanel";
import { NodePanel, type Links } from "./NodePanel";
import { CanvasContext, NODE_TYPES, type CanvasInfo, type EntryData, type StepData } from "./JourneyNode";
import { Palette, PALETTE_MIME } from "./Palette";
import { StatusActions } from "./StatusActions";
import { loadLayout, saveLayout } from "./layout";
import {
  ENTRY_ID, autoLayout, countRuns, defaultConfig, defaultEntry, errorsByNode, freshId, fromDefinition, handlesOf,
  toDefinition, type Counts, type Graph, type NodeConfig, type NodeType, type PathError, type Run, type Trigger,
} from "./model";
import { STATUS_TONE, type Journey, type JourneySummary } from "./types";
import type { Option } from "./fields";

/** A notice that survives the remount when a new journey's page becomes its own address. */
let flash = "";

const EDGE_STYLE = { markerEnd: { type: MarkerType.ArrowClosed }, deletable: true };

function toFlow(graph: Graph, positions: Record<string, { x: number; y: number }>): { nodes: Node[]; edges: Edge[] } {
  const nodes: Node[] = [];
  if (graph.entry) nodes.push({ id: ENTRY_ID, type: "entry", position: positions[ENTRY_ID] ?? { x: 0, y: 0 }, data: { entry: graph.entry }, deletable: false });
  for (const n of graph.nodes) nodes.push({ id: n.id, type: "step", position: positions[n.id] ?? { x: 0, y: 0 }, data: { config: n.config } });
  const edges = graph.edges.filter((e) => e.target).map((e) => edgeOf(e.source, e.handle, e.target));
  return { nodes, edges };
}

function edgeOf(source: string, handle: string, target: string): Edge {
  return { id: `${source}:${handle}`, source, sourceHandle: handle, target, ...EDGE_STYLE };
}

function toGraph(nodes: Node[], edges: Edge[]): Graph {
  const entryNode = nodes.find((n) => n.type === "entry");
  return {
    entry: entryNode ? (entryNode.data as EntryData).entry : null,
    nodes: nodes.filter((n) => n.type === "step").map((n) => ({ id: n.id, config: (n.data as StepData).config })),
    edges: edges.map((e) => ({ source: e.source, handle: e.sourceHandle ?? "next", target: e.target })),
  };
}

export function JourneyEditorPage({ id }: { id?: string }) {
  const journey = useLoad(() => (id ? api.get<Journey>(`/api/v1/journeys/${encodeURIComponent(id)}`) : Promise.resolve(null)), [id]);
  if (id && journey.error) return <div className="page"><p><Link to="/journeys">← Journeys</Link></p><ErrorNote error={journey.error} /></div>;
  if (id && !journey.data) return <div className="page"><Spinner /></div>;
  return (
    <ReactFlowProvider>
      <Editor key={id ?? "new"} initial={journey.data} />
    </ReactFlowProvider>
  );
}

function useOptions() {
  const messages = useLoad(() => api.get<{ items: { id: string; name: string }[] }>("/api/v1/messages"), []);
  const segments = useLoad(() => api.get<{ items: { id: string; name: string }[] }>("/api/v1/segments"), []);
  const pick = (items: { id: string; name: string }[] | undefined): Option[] | null => items?.map((i) => ({ id: i.id, name: i.name })) ?? null;
  return { messages: pick(messages.data?.items), segments: pick(segments.data?.items) };
}

function useLiveCounts(id: string | undefined): Counts | null {
  const [counts, setCounts] = useState<Counts | null>(null);
  const poll = useCallback(async () => {
    if (!id) return;
    const runs = await api.get<{ items: Run[] }>(`/api/v1/journeys/${encodeURIComponent(id)}/runs?limit=1000`);
    setCounts(countRuns(runs.items));
  }, [id]);
  useEffect(() => void poll().catch(() => undefined), [poll]);
  useInterval(() => poll().catch(() => undefined), 2000, !!id);
  return counts;
}

function Editor({ initial }: { initial: Journey | null }) {
  const canEdit = useCan("marketer");
  const { screenToFlowPosition } = useReactFlow();
  const [summary, setSummary] = useState<JourneySummary | null>(initial);
  const [name, setName] = useState(initial?.name ?? "");
  const start = useMemo(() => {
    const graph: Graph = initial ? fromDefinition(initial.definition) : { entry: null, nodes: [], edges: [] };
    return toFlow(graph, (initial && loadLayout(initial.id)) || autoLayout(graph));
  }, [initial]);
  const [nodes, setNodes] = useState<Node[]>(start.nodes);
  const [edges, setEdges] = useState<Edge[]>(start.edges);
  const [selected, setSelected] = useState<string | null>(null);
  const [errors, setErrors] = useState<PathError[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [notice, setNotice] = useState(() => {
    const message = flash;
    flash = "";
    return message;
  });
  const options = useOptions();
  const counts = useLiveCounts(summary?.id);

  const stepIds = nodes.filter((n) => n.type === "step").map((n) => n.id);
  const byNode = useMemo(() => errorsByNode(errors, stepIds), [errors, stepIds.join()]);
  const info: CanvasInfo = useMemo(() => ({
    counts, errors: byNode,
    messageNames: Object.fromEntries((options.messages ?? []).map((m) => [m.id, m.name])),
    segmentNames: Object.fromEntries((options.segments ?? []).map((s) => [s.id, s.name])),
  }), [counts, byNode, options.messages, options.segments]);

  const changed = () => setNotice("");
  const onNodesChange = useCallback((changes: NodeChange[]) => {
    setNodes((ns) => applyNodeChanges(changes, ns));
    if (changes.some((c) => c.type === "remove")) changed();
  }, []);
  const onEdgesChange = useCallback((changes: EdgeChange[]) => setEdges((es) => applyEdgeChanges(changes, es)), []);
  /** One target per handle: a new connection from a handle replaces the old one. */
  const link = useCallback((source: string, handle: string, target: string | null) => {
    setEdges((es) => {
      const rest = es.filter((e) => !(e.source === source && (e.sourceHandle ?? "next") === handle));
      return target && target !== source ? [...rest, edgeOf(source, handle, target)] : rest;
    });
    changed();
  }, []);
  const onConnect = useCallback((c: Connection) => {
    if (!c.source || !c.target || c.source === c.target) return;
    setEdges((es) => addEdge(edgeOf(c.source, c.sourceHandle ?? "next", c.target),
      es.filter((e) => !(e.source === c.source && (e.sourceHandle ?? "next") === (c.sourceHandle ?? "next")))));
    changed();
  }, []);

  const place = (item: string, position: { x: number; y: number }) => {
    if (item.startsWith("trigger:")) {
      const type = item.slice("trigger:".length) as Trigger["type"];
      setNodes((ns) => ns.some((n) => n.id === ENTRY_ID)
        ? ns.map((n) => (n.id === ENTRY_ID ? { ...n, data: { entry: { ...(n.data as EntryData).entry, trigger: defaultEntry(type).trigger } } } : n))
        : [...ns, { id: ENTRY_ID, type: "entry", position, data: { entry: defaultEntry(type) }, deletable: false }]);
      setSelected(ENTRY_ID);
    } else {
      const type = item as NodeType;
      const nodeId = freshId(type, nodes.map((n) => n.id));
      setNodes((ns) => [...ns, { id: nodeId, type: "step", position, data: { config: defaultConfig(type) } }]);
      setSelected(nodeId);
    }
    changed();
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    const item = e.dataTransfer.getData(PALETTE_MIME);
    if (item) place(item, screenToFlowPosition({ x: e.clientX, y: e.clientY }));
  };
  const onDragOver = (e: DragEvent) => {
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
  };

  const setConfig = (nodeId: string, config: NodeConfig) => {
    setNodes((ns) => ns.map((n) => (n.id === nodeId ? { ...n, data: { config } } : n)));
    changed();
  };
  const setEntry = (entry: EntryData["entry"]) => {
    setNodes((ns) => ns.map((n) => (n.id === ENTRY_ID ? { ...n, data: { entry } } : n)));
    changed();
  };
  /** Branch i goes; the edges of the branches after it move up one handle. */
  const removeBranch = (nodeId: string, config: NodeConfig, i: number) => {
    if (config.type !== "split") return;
    setConfig(nodeId, { ...config, branches: config.branches.filter((_, j) => j !== i) });
    setEdges((es) => es.flatMap((e) => {
      if (e.source !== nodeId) return [e];
      const j = Number((e.sourceHandle ?? "").slice(1));
      if (j === i) return [];
      return j > i ? [edgeOf(nodeId, `b${j - 1}`, e.target)] : [e];
    }));
  };
  const remove = (nodeId: string) => {
    setNodes((ns) => ns.filter((n) => n.id !== nodeId));
    setEdges((es) => es.filter((e) => e.source !== nodeId && e.target !== nodeId));
    setSelected(null);
    changed();
  };

  const definitionDoc = () => toDefinition(name, toGraph(nodes, edges));
  const positions = () => Object.fromEntries(nodes.map((n) => [n.id, n.position]));
  const validate = async (): Promise<boolean> => {
    const answer = await api.post<{ valid: boolean; errors: PathError[] }>("/api/v1/journeys/validate", definitionDoc());
    setErrors(answer.errors);
    return answer.valid;
  };
  // Once problems are on the canvas, each edit is checked again (450 ms after the last
  // one), so a fixed node loses its marks without another click. Stale answers are dropped.
  const docText = JSON.stringify(definitionDoc());
  const shown = errors.length > 0;
  useEffect(() => {
    if (!shown) return;
    let live = true;
    const timer = window.setTimeout(() => {
      api.post<{ valid: boolean; errors: PathError[] }>("/api/v1/journeys/validate", JSON.parse(docText))
        .then((answer) => live && setErrors(answer.errors), () => undefined);
    }, 450);
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [docText, shown]);
  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  const save = () => run(async () => {
    if (!(await validate())) {
      setNotice("");
      return;
    }
    const saved = summary
      ? await api.put<Journey>(`/api/v1/journeys/${encodeURIComponent(summary.id)}`, definitionDoc())
      : await api.post<Journey>("/api/v1/journeys", definitionDoc());
    saveLayout(saved.id, positions());
    setSummary(saved);
    setNotice(`Saved as version ${saved.version}.`);
    if (!summary) {
      flash = `Saved as version ${saved.version}.`;
      navigate(`/journeys/${saved.id}`, true);
    }
  });
  const check = () => run(async () => {
    setNotice((await validate()) ? "The journey is valid." : "");
  });

  const selectedNode = nodes.find((n) => n.id === selected);
  const graph = toGraph(nodes, edges);
  const linksFor = (source: string): Links => ({
    targets: Object.fromEntries(graph.edges.filter((e) => e.source === source).map((e) => [e.handle, e.target])),
    choices: stepIds.filter((s) => s !== source),
    link: (handle, target) => link(source, handle, target),
  });
  const journeyErrors = byNode[""] ?? [];

  return (
    <div className="page journey-page">
      <p className="crumbs"><Link to="/journeys">← Journeys</Link></p>
      <div className="page-head">
        <div className="journey-title">
          <input className="journey-name" aria-label="Journey name" placeholder="Journey name" value={name}
            readOnly={!canEdit} onChange={(e) => { setName(e.target.value); changed(); }} />
          {summary && (
            <span className="journey-meta">
              <Badge tone={STATUS_TONE[summary.status] ?? "neutral"}><span data-testid="journey-status">{summary.status}</span></Badge>
              <span className="mono" data-testid="journey-version" title="Each save makes a new version; runs stay on the version they started on.">version {summary.version}</span>
            </span>
          )}
        </div>
        {canEdit && (
          <div className="head-actions">
            {summary && <StatusActions journey={summary} onChange={setSummary} disabled={busy} />}
            <button type="button" className="btn" disabled={busy} onClick={() => void check()}>Validate</button>
            <button type="button" className="btn btn-primary" disabled={busy} onClick={() => void save()}>{summary ? "Save new version" : "Save"}</button>
          </div>
        )}
      </div>
      <ErrorNote error={error} />
      {notice && <div className="note note-success" role="status">{notice}</div>}
      {journeyErrors.length > 0 && (
        <div className="note note-error" role="alert" data-testid="journey-errors">
          {journeyErrors.map((e, i) => <div key={i}>{e.path}: {e.reason}</div>)}
        </div>
      )}
      {errors.length > 0 && <p className="muted small" data-testid="error-count">{errors.length} problem{errors.length > 1 ? "s" : ""} — each is shown on its node.</p>}
      <div className="journey-workspace">
        {canEdit && <Palette hasEntry={nodes.some((n) => n.id === ENTRY_ID)} onAdd={(item) => place(item, screenToFlowPosition({ x: 400, y: 300 }))} />}
        <div className="journey-canvas" data-testid="journey-canvas" onDrop={onDrop} onDragOver={onDragOver}>
          <CanvasContext.Provider value={info}>
            <ReactFlow nodes={nodes} edges={edges} nodeTypes={NODE_TYPES} onNodesChange={onNodesChange} onEdgesChange={onEdgesChange}
              onConnect={onConnect} onNodeClick={(_, n) => setSelected(n.id)} onPaneClick={() => setSelected(null)}
              onNodeDragStop={() => summary && saveLayout(summary.id, positions())}
              nodesConnectable={canEdit} nodesDraggable={canEdit} fitView={!!initial} fitViewOptions={{ maxZoom: 1 }} deleteKeyCode={canEdit ? ["Delete", "Backspace"] : null}>
              <Background />
              <Controls showInteractive={false} />
            </ReactFlow>
          </CanvasContext.Provider>
        </div>
        <aside className="journey-side">
          {selectedNode?.type === "entry" ? (
            <EntryPanel entry={(selectedNode.data as EntryData).entry} onChange={setEntry} links={linksFor(ENTRY_ID)}
              segments={options.segments} errors={byNode[ENTRY_ID] ?? []} readOnly={!canEdit} />
          ) : selectedNode ? (
            <NodePanel id={selectedNode.id} config={(selectedNode.data as StepData).config} onChange={(c) => setConfig(selectedNode.id, c)}
              links={linksFor(selectedNode.id)} messages={options.messages} segments={options.segments}
              errors={byNode[selectedNode.id] ?? []} onDelete={() => remove(selectedNode.id)}
              onRemoveBranch={(i) => removeBranch(selectedNode.id, (selectedNode.data as StepData).config, i)} readOnly={!canEdit} />
          ) : (
            <div className="jpanel muted">
              <p>Drag a trigger and steps from the palette onto the canvas, connect each exit handle (bottom) to the next step's top, and click a node to configure it.</p>
              {graph.nodes.length > 0 && <p className="small">{graph.nodes.length} step{graph.nodes.length > 1 ? "s" : ""}, {handlesCount(graph)} exit handle(s), {graph.edges.length} connection(s).</p>}
            </div>
          )}
        </aside>
      </div>
    </div>
  );
}

function handlesCount(graph: Graph): number {
  return graph.nodes.reduce((s, n) => s + handlesOf(n.config).length, graph.entry ? 1 : 0);
}
