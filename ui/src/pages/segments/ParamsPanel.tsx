// Inputs for a segment's parameters (`@name`): type and the value used when nothing binds it.
import { VALUE_TYPES, parseScalar, scalarText, type ParamDecl } from "./model";

export function ParamsPanel({ params, onChange, hint }: {
  params: Record<string, ParamDecl>;
  onChange: (p: Record<string, ParamDecl>) => void;
  hint?: string;
}) {
  const names = Object.keys(params);
  if (!names.length) {
    return <p className="muted small" data-testid="params-empty">{hint ?? "Type @name in any value to make it a parameter."}</p>;
  }
  const set = (name: string, decl: ParamDecl) => onChange({ ...params, [name]: decl });
  return (
    <table className="table compact" data-testid="params">
      <thead><tr><th>Parameter</th><th>Type</th><th>Value</th></tr></thead>
      <tbody>
        {names.map((name) => {
          const decl = params[name]!;
          return (
            <tr key={name}>
              <td className="mono">@{name}</td>
              <td>
                <select aria-label={`Type of @${name}`} value={decl.type} onChange={(e) => set(name, { ...decl, type: e.target.value })}>
                  {VALUE_TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
                </select>
              </td>
              <td>
                <input aria-label={`Value of @${name}`} type={decl.type === "date" ? "date" : "text"} value={scalarText(decl.default)}
                  onChange={(e) => {
                    const v = decl.type === "list" ? e.target.value.split(",").map((s) => parseScalar(s.trim(), "text"))
                      : decl.type === "boolean" ? e.target.value === "true" : parseScalar(e.target.value, decl.type);
                    set(name, { ...decl, default: v });
                  }} />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
