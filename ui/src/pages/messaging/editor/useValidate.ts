// Live template checks while typing: POST /api/v1/templates/validate, 400 ms after the last
// keystroke, stale answers dropped. Errors carry the source's own line numbers.
import { useEffect, useState } from "react";
import { api } from "../../../api";
import type { TemplateError } from "../types";

export type SourceKind = "mjml" | "text" | "subject";

export function useValidate(source: string | undefined, kind: SourceKind, enabled = true): TemplateError[] {
  const [errors, setErrors] = useState<TemplateError[]>([]);
  useEffect(() => {
    if (!enabled || source === undefined || !source.trim()) {
      setErrors([]);
      return;
    }
    let live = true;
    const timer = window.setTimeout(() => {
      api.post<{ valid: boolean; errors: TemplateError[] }>("/api/v1/templates/validate", { source, kind }).then(
        (answer) => live && setErrors(answer.errors),
        () => live && setErrors([]), // a failed check is not a template error
      );
    }, 400);
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [source, kind, enabled]);
  return errors;
}
