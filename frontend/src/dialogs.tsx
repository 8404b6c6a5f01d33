// The app's own confirm and prompt dialogs (instead of the browser's window.confirm/prompt, which
// block the page, cannot say which button is destructive and look different in every browser).
// `const dialogs = useDialogs(); if (await dialogs.confirm({...}))` / `await dialogs.prompt({...})`.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type FormEvent, type ReactNode } from "react";

export interface ConfirmOptions {
  title: string;
  message?: ReactNode;
  confirmLabel?: string; // "OK" unless named
  danger?: boolean; // the confirm button is drawn as destructive
}

export interface PromptOptions {
  title: string;
  message?: ReactNode;
  label: string;
  initial?: string;
  confirmLabel?: string;
}

interface Dialogs {
  confirm: (options: ConfirmOptions) => Promise<boolean>;
  prompt: (options: PromptOptions) => Promise<string | null>; // null: cancelled
}

type Open =
  | { kind: "confirm"; options: ConfirmOptions; resolve: (ok: boolean) => void }
  | { kind: "prompt"; options: PromptOptions; resolve: (value: string | null) => void };

const DialogContext = createContext<Dialogs | null>(null);

export function useDialogs(): Dialogs {
  const dialogs = useContext(DialogContext);
  if (!dialogs) throw new Error("useDialogs() needs a <DialogProvider> above it");
  return dialogs;
}

export function DialogProvider({ children }: { children: ReactNode }) {
  const [open, setOpen] = useState<Open | null>(null);
  const confirm = useCallback((options: ConfirmOptions) => new Promise<boolean>((resolve) => setOpen({ kind: "confirm", options, resolve })), []);
  const prompt = useCallback((options: PromptOptions) => new Promise<string | null>((resolve) => setOpen({ kind: "prompt", options, resolve })), []);
  const dialogs = useMemo(() => ({ confirm, prompt }), [confirm, prompt]);

  function close(answer: string | null) {
    if (!open) return;
    if (open.kind === "confirm") open.resolve(answer !== null);
    else open.resolve(answer);
    setOpen(null);
  }

  return (
    <DialogContext.Provider value={dialogs}>
      {children}
      {open && (
        <Dialog
          title={open.options.title}
          message={open.options.message}
          confirmLabel={open.options.confirmLabel ?? "OK"}
          danger={open.kind === "confirm" && open.options.danger}
          field={open.kind === "prompt" ? { label: open.options.label, initial: open.options.initial ?? "" } : undefined}
          onClose={close}
        />
      )}
    </DialogContext.Provider>
  );
}

/** One modal dialog: a title, a message, optionally one text field, Cancel and a confirm button. */
function Dialog({ title, message, confirmLabel, danger, field, onClose }: {
  title: string;
  message?: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  field?: { label: string; initial: string };
  onClose: (answer: string | null) => void; // null: cancelled; else the field's text ("" for a confirm)
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [text, setText] = useState(field?.initial ?? "");
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal(); // modal: focus stays inside, Escape cancels
  }, []);

  function submit(event: FormEvent) {
    event.preventDefault();
    if (field && !text.trim()) return;
    onClose(field ? text.trim() : "");
  }

  return (
    <dialog ref={ref} className="app-dialog" aria-labelledby="app-dialog-title" data-testid="app-dialog"
      onCancel={(e) => { e.preventDefault(); onClose(null); }}>
      <form onSubmit={submit}>
        <h2 id="app-dialog-title">{title}</h2>
        {message && <div className="app-dialog-message">{message}</div>}
        {field && (
          <label className="app-dialog-field">
            {field.label}
            <input name="dialog-value" value={text} onChange={(e) => setText(e.target.value)} autoFocus onFocus={(e) => e.target.select()} />
          </label>
        )}
        <div className="button-row app-dialog-buttons">
          <button type="button" onClick={() => onClose(null)} autoFocus={!field && danger}>Cancel</button>
          <button type="submit" className={danger ? "primary danger-fill" : "primary"} disabled={!!field && !text.trim()} autoFocus={!field && !danger}>
            {confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
