// The journey canvas: a palette dragged onto a React Flow canvas, nodes connected by their
// handles, a side panel for the selected node or the entry, save (a new version; a live
// journey's runs stay or move), validation errors on the nodes and fields they name, status
// actions, live counts on each node, version history (a past version read-only) and a dry run.
import "@xyflow/react/dist/style.css";
import "./journeys.css";
import { useCallback, useEffect, useMemo, useState, type DragEvent } from "react";
import {
  addEdge, applyEdgeChanges, applyNodeChanges, Background, Controls, ReactFlow, ReactFlowProvider, useReactFlow,
  type Connection, type Edge, type EdgeChange, type Node, type NodeChange,
} from "@xyflow/react";
import { api } from "../../api";
import { useCan } from "../../auth";
import { Badge, ErrorNote, Spinner } from "../../components/ui";
import { useLoad } from "../../hooks";
import { Link, navigate } from "../../router";
import { fromDefinition, localErrors, toDefinition } from "./document";
import { edgeOf, toFlow, toGraph } from "./flow";
import { DryRunPanel, type DryRun } from "./DryRunPanel";
import { useLiveStats, useOptions } from "./editorHooks";
import { EntryPanel } from "./EntryPanel";
import { NodePanel, type Links, type PanelOptions } from "./NodePanel";
import { CanvasContext, NODE_TYPES, type CanvasInfo, type EntryData, type StepData } from "./JourneyNode";
import { MigrateDialog, migrationWords, type Migrate, type MigrationSummary } from "./MigrateDialog";
import { Palette, PALETTE_MIME } from "./Palette";
import { StatusActions } from "./StatusActions";
import { VersionsPanel, type PastVersion } from "./VersionsPanel";
import { loadLayout, saveLayout } from "./layout";
import {
  ENTRY_ID, autoLayout, defaultConfig, defaultEntry, errorsByNode, freshId, handlesOf,
  type Goal, type Graph, type NodeConfig, type NodeType, type PathError, type TriggerType,
} from "./model";
import { STATUS_TONE, type Journey, type JourneySummary } from "./types";

/** A notice that survives the remount when a new journey's page becomes its own address. */
let flash = "";

/** The notice the next journey page opened shows once (e.g. what a scenario prebuilt). */
export function flashNotice(message: string): void {
  flash = message;
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

type Side = "node" | "versions" | "dryrun";

function Editor({ initial }: { initial: Journey | null }) {
  const canEdit = useCan("marketer");
  const { screenToFlowPosition } = useReactFlow();
  const [summary, setSummary] = useState<JourneySummary | null>(initial);
  const [name, setName] = useState(initial?.name ?? "");
  const start = useMemo(() => {
    const graph: Graph = initial ? fromDefinition(initial.definition) : { entry: null, nodes: [], edges: [] };
    return { ...toFlow(graph, (initial && loadLayout(initial.id)) || autoLayout(graph)), goal: graph.goal ?? null };
  }, [initial]);
  const [nodes, setNodes] = useState<Node[]>(start.nodes);
  const [edges, setEdges] = useState<Edge[]>(start.edges);
  const [goal, setGoalState] = useState<Goal | null>(start.goal);
  /** The step ids of the version last saved (a live save asks where runs at gone steps go). */
  const [savedIds, setSavedIds] = useState<string[]>(() => initial?.definition.nodes.map((n) => n.id) ?? []);
  const [selected, setSelected] = useState<string | null>(null);
  const [side, setSide] = useState<Side>("node");
  const [viewing, setViewing] = useState<PastVersion | null>(null);
  const [dryRun, setDryRun] = useState<DryRun | null>(null);
  const [migrating, setMigrating] = useState(false);
  const [versionsKey, setVersionsKey] = useState(0);
  const [dirty, setDirty] = useState(false);
  const [errors, setErrors] = useState<PathError[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [notice, setNotice] = useState(() => {
    const message = flash;
    flash = "";
    return message;
  });
  const options = useOptions();
  const stats = useLiveStats(summary?.id);
  const editable = canEdit && !viewing;

  // A past version is shown read-only in place of the working graph (which is kept).
  const past = useMemo(() => {
    if (!viewing) return null;
    const graph = fromDefinition(viewing.definition);
    return { ...toFlow(graph, autoLayout(graph)), goal: graph.goal ?? null };
  }, [viewing]);
  const shownNodes = past ? past.nodes : nodes;
  const shownEdges = past ? past.edges : edges;

  const stepIds = shownNodes.filter((n) => n.type === "step").map((n) => n.id);
  const byNode = useMemo(() => errorsByNode(past ? [] : errors, stepIds), [errors, past, stepIds.join()]);
  const dryCounts = useMemo(() => (dryRun ? { ...dryRun.by_node, [ENTRY_ID]: dryRun.entered } : null), [dryRun]);
  // A dry run's counts belong to the graph it ran: switching versions drops them.
  useEffect(() => setDryRun(null), [viewing]);
  const info: CanvasInfo = useMemo(() => ({
    stats: past ? null : stats, dryRun: dryCounts, errors: byNode,
    messageNames: Object.fromEntries((options.messages ?? []).map((m) => [m.id, m.name])),
    segmentNames: Object.fromEntries((options.segments ?? []).map((s) => [s.id, s.name])),
  }), [stats, past, dryCounts, byNode, options.messages, options.segments]);

  const changed = () => {
    setNotice("");
    setDirty(true);
  };
  const onNodesChange = useCallback((changes: NodeChange[]) => {
    setNodes((ns) => applyNodeChanges(changes, ns));
    if (changes.some((c) => c.type === "remove")) changed();
  }, []);
  const onEdgesChange = useCallback((changes: EdgeChange[]) => {
    setEdges((es) => applyEdgeChanges(changes, es));
    if (changes.some((c) => c.type === "remove")) changed();
  }, []);
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
      const type = item.slice("trigger:".length) as TriggerType;
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
    setSide("node");
    changed();
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    const item = e.dataTransfer.getData(PALETTE_MIME);
    if (item && editable) place(item, screenToFlowPosition({ x: e.clientX, y: e.clientY }));
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
  const setGoal = (g: Goal | null) => {
    setGoalState(g);
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

  const definitionDoc = () => toDefinition(name, toGraph(nodes, edges, goal));
  const positions = () => Object.fromEntries(nodes.map((n) => [n.id, n.position]));
  /** The server's check of the document plus the browser's own (a webhook body's JSON). */
  const check = async (doc: Record<string, unknown>): Promise<PathError[]> => {
    const answer = await api.post<{ valid: boolean; errors: PathError[] }>("/api/v1/journeys/validate", doc);
    return [...answer.errors, ...localErrors(toGraph(nodes, edges, goal))];
  };
  const validate = async (): Promise<boolean> => {
    const found = await check(definitionDoc());
    setErrors(found);
    return found.length === 0;
  };
  // Once problems are on the canvas, each edit is checked again (450 ms after the last
  // one), so a fixed node loses its marks without another click. Stale answers are dropped.
  const docText = JSON.stringify(definitionDoc());
  const shown = errors.length > 0;
  useEffect(() => {
    if (!shown) return;
    let live = true;
    const timer = window.setTimeout(() => {
      check(JSON.parse(docText)).then((found) => live && setErrors(found), () => undefined);
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
  const store = async (migrate: Migrate | null) => {
    const doc = migrate ? { ...definitionDoc(), migrate } : definitionDoc();
    const saved: Journey & { migration?: MigrationSummary | null } = summary
      ? await api.put(`/api/v1/journeys/${encodeURIComponent(summary.id)}`, doc)
      : await api.post("/api/v1/journeys", doc);
    saveLayout(saved.id, positions());
    setSummary(saved);
    setSavedIds(saved.definition?.nodes.map((n) => n.id) ?? nodes.filter((n) => n.type === "step").map((n) => n.id));
    setDirty(false);
    setVersionsKey((k) => k + 1);
    setNotice(`Saved as version ${saved.version}.${saved.migration ? ` ${migrationWords(saved.migration)}` : ""}`);
    if (!summary) {
      flash = `Saved as version ${saved.version}.`;
      navigate(`/journeys/${saved.id}`, true);
    }
  };
  const live = summary?.status === "live" || summary?.status === "paused";
  const save = () => run(async () => {
    if (!(await validate())) {
      setNotice("");
      return;
    }
    if (live) setMigrating(true);
    else await store(null);
  });
  const checkNow = () => run(async () => {
    setNotice((await validate()) ? "The journey is valid." : "");
  });
  /** Loads the version being viewed into the editor, as unsaved changes. */
  const restore = () => {
    if (!viewing || !past) return;
    setNodes(past.nodes);
    setEdges(past.edges);
    setGoalState(past.goal);
    setViewing(null);
    setSelected(null);
    setNotice(`Version ${viewing.version} restored into the editor — save to make it a new version.`);
    setDirty(true);
  };

  const selectedNode = shownNodes.find((n) => n.id === selected);
  const graph = toGraph(shownNodes, shownEdges);
  const linksFor = (source: string): Links => ({
    targets: Object.fromEntries(graph.edges.filter((e) => e.source === source).map((e) => [e.handle, e.target])),
    choices: stepIds.filter((s) => s !== source),
    link: (handle, target) => link(source, handle, target),
  });
  const panelOptions: PanelOptions = {
    messages: options.messages, segments: options.segments,
    journeys: options.journeys?.filter((j) => j.id !== summary?.id) ?? null,
    messageNodes: graph.nodes.filter((n) => n.config.type === "send" || n.config.type === "cascade").map((n) => n.id),
  };
  const journeyErrors = byNode[""] ?? [];
  const toggle = (what: Side) => setSide((s) => (s === what ? "node" : what));

  return (
    <div className="page journey-page">
      <p className="crumbs"><Link to="/journeys">← Journeys</Link></p>
      <div className="page-head">
        <div className="journey-title">
          <input className="journey-name" aria-label="Journey name" placeholder="Journey name" value={name}
            readOnly={!editable} onChange={(e) => { setName(e.target.value); changed(); }} />
          {summary && (
            <span className="journey-meta">
              <Badge tone={STATUS_TONE[summary.status] ?? "neutral"}><span data-testid="journey-status">{summary.status}</span></Badge>
              <span className="mono" data-testid="journey-version" title="Each save makes a new version; runs stay on the version they started on.">version {summary.version}</span>
            </span>
          )}
        </div>
        <div className="head-actions">
          {summary && <button type="button" className={side === "versions" ? "btn btn-small on" : "btn btn-small"} onClick={() => toggle("versions")}>History</button>}
          <button type="button" className={side === "dryrun" ? "btn btn-small on" : "btn btn-small"} onClick={() => toggle("dryrun")}>Dry run</button>
          {canEdit && summary && <StatusActions journey={summary} onChange={setSummary} disabled={busy} />}
          {editable && <button type="button" className="btn" disabled={busy} onClick={() => void checkNow()}>Validate</button>}
          {editable && <button type="button" className="btn btn-primary" disabled={busy} onClick={() => void save()}>{summary ? "Save new version" : "Save"}</button>}
        </div>
      </div>
      <ErrorNote error={error} />
      {viewing && (
        <div className="note note-info" role="note" data-testid="viewing-version">
          Viewing version {viewing.version}, read-only.{" "}
          <button type="button" className="btn btn-small" onClick={() => setViewing(null)}>Back to the current version</button>
          {canEdit && <button type="button" className="btn btn-small" onClick={restore}>Restore this version</button>}
        </div>
      )}
      {notice && <div className="note note-success" role="status">{notice}</div>}
      {journeyErrors.length > 0 && (
        <div className="note note-error" role="alert" data-testid="journey-errors">
          {journeyErrors.map((e, i) => <div key={i}>{e.path}: {e.reason}</div>)}
        </div>
      )}
      {errors.length > 0 && !viewing && <p className="muted small" data-testid="error-count">{errors.length} problem{errors.length > 1 ? "s" : ""} — each is shown on its node.</p>}
      <div className={editable ? "journey-workspace" : "journey-workspace no-palette"}>
        {editable && <Palette hasEntry={nodes.some((n) => n.id === ENTRY_ID)} onAdd={(item) => place(item, screenToFlowPosition({ x: 400, y: 300 }))} />}
        <div className="journey-canvas" data-testid="journey-canvas" onDrop={onDrop} onDragOver={onDragOver}>
          <CanvasContext.Provider value={info}>
            <ReactFlow key={viewing ? `v${viewing.version}` : "current"} nodes={shownNodes} edges={shownEdges} nodeTypes={NODE_TYPES}
              onNodesChange={viewing ? undefined : onNodesChange} onEdgesChange={viewing ? undefined : onEdgesChange}
              onConnect={onConnect} onNodeClick={(_, n) => { setSelected(n.id); setSide("node"); }} onPaneClick={() => setSelected(null)}
              onNodeDragStop={() => summary && !viewing && saveLayout(summary.id, positions())}
              nodesConnectable={editable} nodesDraggable={editable} fitView={!!initial || !!viewing} fitViewOptions={{ maxZoom: 1 }}
              deleteKeyCode={editable ? ["Delete", "Backspace"] : null}>
              <Background />
              <Controls showInteractive={false} />
            </ReactFlow>
          </CanvasContext.Provider>
        </div>
        <aside className="journey-side">
          {side === "versions" && summary ? (
            <VersionsPanel journeyId={summary.id} current={summary.version} viewing={viewing?.version ?? null}
              onView={(v) => { setViewing(v); setSelected(null); }} reloadKey={versionsKey} />
          ) : side === "dryrun" ? (
            <DryRunPanel key={viewing?.version ?? "current"} journeyId={summary?.id ?? null} version={viewing?.version ?? null} dirty={dirty} draft={definitionDoc} validate={validate} onResult={setDryRun} />
          ) : selectedNode?.type === "entry" ? (
            <EntryPanel entry={(selectedNode.data as EntryData).entry} onChange={setEntry} links={linksFor(ENTRY_ID)}
              goal={past ? past.goal : goal} onGoal={setGoal} options={panelOptions} errors={byNode[ENTRY_ID] ?? []} readOnly={!editable} />
          ) : selectedNode ? (
            <NodePanel id={selectedNode.id} config={(selectedNode.data as StepData).config} onChange={(c) => setConfig(selectedNode.id, c)}
              links={linksFor(selectedNode.id)} options={panelOptions}
              errors={byNode[selectedNode.id] ?? []} onDelete={() => remove(selectedNode.id)}
              onRemoveBranch={(i) => removeBranch(selectedNode.id, (selectedNode.data as StepData).config, i)} readOnly={!editable} />
          ) : (
            <div className="jpanel muted">
              <p>Drag a trigger and steps from the palette onto the canvas, connect each exit handle (bottom) to the next step's top, and click a node to configure it.</p>
              {graph.nodes.length > 0 && <p className="small">{graph.nodes.length} step{graph.nodes.length > 1 ? "s" : ""}, {handlesCount(graph)} exit handle(s), {graph.edges.length} connection(s).</p>}
            </div>
          )}
        </aside>
      </div>
      {migrating && summary && (
        <MigrateDialog journeyId={summary.id} oldIds={savedIds} newIds={nodes.filter((n) => n.type === "step").map((n) => n.id)}
          onCancel={() => setMigrating(false)}
          onSave={async (m) => {
            await store(m);
            setMigrating(false);
          }} />
      )}
    </div>
  );
}

function handlesCount(graph: Graph): number {
  return graph.nodes.reduce((s, n) => s + handlesOf(n.config).length, graph.entry ? 1 : 0);
}
