/**
 * Export of the current query from one ledger: every format of GET /v1/ledgers/{l}/export (the list is
 * the core's EXPORT_FORMATS, the one the server validates against) and an evidence bundle (POST
 * /v1/ledgers/{l}/bundle with the query), each as a download. The buttons are disabled while one runs,
 * the status says what happened, and a failure shows the server's message.
 */
import { useId, useState } from 'preact/hooks';
import { apiBlob, saveBlob } from '../../api.js';
import { EXPORT_FORMATS, type ExportFormat } from '../../../../src/core/export/record.js';
import { ErrorMessage } from '../../ui/common.js';

const FORMAT_NAMES: Record<ExportFormat, string> = {
  jsonl: 'JSON Lines',
  csv: 'CSV (RFC 4180)',
  ocsf: 'OCSF 1.8.0 (JSON Lines)',
  cef: 'ArcSight CEF',
  syslog: 'Syslog (RFC 5424)',
};

const size = (bytes: number) => (bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`);

export function ExportPanel({ ledger, q }: { ledger: string; q: string }) {
  const id = useId();
  const [format, setFormat] = useState<ExportFormat>('jsonl');
  const [running, setRunning] = useState<string | undefined>(undefined);
  const [status, setStatus] = useState('');
  const [error, setError] = useState<unknown>(undefined);

  const run = async (what: string, fetchIt: () => Promise<{ blob: Blob; filename: string | undefined }>, fallbackName: string) => {
    setRunning(what);
    setError(undefined);
    setStatus(`${what}: preparing…`);
    try {
      const { blob, filename } = await fetchIt();
      const name = filename ?? fallbackName;
      saveBlob(blob, name);
      setStatus(`${what}: downloaded ${name} (${size(blob.size)})`);
    } catch (failure) {
      setError(failure);
      setStatus('');
    } finally {
      setRunning(undefined);
    }
  };

  const path = `/ledgers/${encodeURIComponent(ledger)}`;
  const disabled = !ledger || running !== undefined;
  return (
    <section class="export card" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Export</h2>
      {!ledger ? <p class="muted">Choose one ledger to export its matches or an evidence bundle.</p> : null}
      <div class="row">
        <label for={`${id}-format`}>Format</label>
        <select id={`${id}-format`} value={format} onChange={(e) => setFormat(e.currentTarget.value as ExportFormat)}>
          {EXPORT_FORMATS.map((f) => (
            <option key={f} value={f}>
              {FORMAT_NAMES[f] ?? f}
            </option>
          ))}
        </select>
        <button type="button" disabled={disabled} aria-busy={running === 'Export'} onClick={() => void run('Export', () => apiBlob(`${path}/export`, { query: { q, format } }), `${ledger}.${format}`)}>
          {running === 'Export' ? 'Exporting…' : 'Export'}
        </button>
        <button
          type="button"
          disabled={disabled}
          aria-busy={running === 'Evidence bundle'}
          onClick={() => void run('Evidence bundle', () => apiBlob(`${path}/bundle`, { method: 'POST', body: q ? { q } : {} }), `${ledger}-bundle.zip`)}
        >
          {running === 'Evidence bundle' ? 'Building bundle…' : 'Evidence bundle'}
        </button>
      </div>
      <p class="export-status" role="status" aria-live="polite">
        {status}
      </p>
      <ErrorMessage error={error} title="The export failed" />
    </section>
  );
}
