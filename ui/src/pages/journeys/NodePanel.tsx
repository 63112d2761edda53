// The side panel for the selected step: its settings, where each of its exits leads, and the
// validation errors that name it (each shown at its field; the rest at the top).
import { NODE_LABEL, handlesOf, isUnder, type NodeConfig, type PathError } from "./model";
import { FieldErrors, type Option } from "./fields";
import { Settings, SETTINGS_FIELDS } from "./NodeSettings";

export interface Links {
  targets: Record<string, string | undefined>;
  choices: string[];
  link: (handle: string, target: string | null) => void;
}

export interface PanelOptions {
  messages: Option[] | null;
  segments: Option[] | null;
  journeys: Option[] | null;
  /** Send and cascade nodes of this journey (what a message-status condition can ask about). */
  messageNodes: string[];
}

export function NodePanel({ id, config, onChange, links, options, errors, onDelete, onRemoveBranch, readOnly }: {
  id: string; config: NodeConfig; onChange: (c: NodeConfig) => void; links: Links; onRemoveBranch: (i: number) => void;
  options: PanelOptions; errors: PathError[]; onDelete: () => void; readOnly: boolean;
}) {
  const claimed = [...SETTINGS_FIELDS[config.type], "next", "then", "else", "branches"];
  const unplaced = errors.filter((e) => !claimed.some((f) => isUnder(e.path, f)));
  return (
    <div className="jpanel" data-testid="node-panel">
      <h3>{NODE_LABEL[config.type]} <span className="mono muted">{id}</span></h3>
      {unplaced.map((e, i) => <p key={i} className="field-error" role="alert">{e.path}: {e.reason}</p>)}
      <FieldErrors.Provider value={errors}>
        <fieldset disabled={readOnly} className="plain">
          <Settings config={config} onChange={onChange} options={options} onRemoveBranch={onRemoveBranch} selfId={id} />
          <Connections config={config} links={links} errors={errors} />
          {!readOnly && <button type="button" className="btn btn-small btn-danger-outline" onClick={onDelete}>Delete node</button>}
        </fieldset>
      </FieldErrors.Provider>
    </div>
  );
}

function Connections({ config, links, errors }: { config: NodeConfig; links: Links; errors: PathError[] }) {
  const handles = handlesOf(config);
  if (!handles.length) return null;
  const label = (h: string) => (config.type === "split" ? `Branch ${Number(h.slice(1)) + 1} leads to` : `${h} leads to`);
  const fieldOf = (h: string) => (config.type === "split" ? `branches[${h.slice(1)}].next` : h);
  return (
    <div className="jconnections">
      {handles.map((h) => {
        const bad = errors.filter((e) => isUnder(e.path, fieldOf(h)));
        return (
          <div key={h} className="field-wrap">
            <label className="field"><span>{label(h)}</span>
              <select value={links.targets[h] ?? ""} onChange={(e) => links.link(h, e.target.value || null)}>
                <option value="">— not connected —</option>
                {links.choices.map((c) => <option key={c} value={c}>{c}</option>)}
              </select>
            </label>
            {bad.length > 0 && <div className="field-error" role="alert" data-testid="field-error">{bad.map((e) => e.reason).join("; ")}</div>}
          </div>
        );
      })}
    </div>
  );
}
