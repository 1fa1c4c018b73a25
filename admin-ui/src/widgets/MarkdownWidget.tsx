// Markdown: a textarea with a Write / Preview switch. The preview is rendered by marked and sanitized
// by DOMPurify before it reaches the page.
import { ariaDescribedByIds, type WidgetProps } from '@rjsf/utils';
import DOMPurify from 'dompurify';
import { marked } from 'marked';
import { useMemo, useState, type KeyboardEvent } from 'react';

export function renderMarkdown(text: string): string {
  const html = marked.parse(text, { async: false, gfm: true, breaks: false });
  // no form controls (the preview sits inside the entry form: a <button> there would submit it) and
  // no <style> (the CSP refuses inline styles anyway)
  return DOMPurify.sanitize(html, { USE_PROFILES: { html: true }, FORBID_TAGS: ['style', 'form', 'input', 'button', 'select', 'option', 'textarea'] });
}

export function MarkdownWidget(props: WidgetProps) {
  const { id, value, disabled, readonly, onChange, onBlur, onFocus, autofocus, options } = props;
  const [tab, setTab] = useState<'write' | 'preview'>('write');
  const text = typeof value === 'string' ? value : '';
  const html = useMemo(() => (tab === 'preview' ? renderMarkdown(text) : ''), [tab, text]);
  // the tab pattern: arrow keys (and Home / End) move between the two tabs, and select the one they reach
  const onTabKey = (e: KeyboardEvent<HTMLDivElement>) => {
    const order = ['write', 'preview'] as const;
    const at = order.indexOf(tab);
    const to = e.key === 'ArrowRight' || e.key === 'ArrowLeft' ? order[1 - at] : e.key === 'Home' ? order[0] : e.key === 'End' ? order[1] : undefined;
    if (!to) return;
    e.preventDefault();
    setTab(to);
    document.getElementById(`${id}-tab-${to}`)?.focus();
  };
  return (
    <div className="markdown">
      <div className="markdown-tabs" role="tablist" aria-label="Markdown view" onKeyDown={onTabKey}>
        <button type="button" role="tab" id={`${id}-tab-write`} aria-selected={tab === 'write'} aria-controls={`${id}-write`} tabIndex={tab === 'write' ? 0 : -1} onClick={() => setTab('write')}>
          Write
        </button>
        <button type="button" role="tab" id={`${id}-tab-preview`} aria-selected={tab === 'preview'} aria-controls={`${id}-preview`} tabIndex={tab === 'preview' ? 0 : -1} onClick={() => setTab('preview')}>
          Preview
        </button>
        <span className="help">Markdown: **bold**, _italic_, [link](https://…), # heading, - list</span>
      </div>
      <div id={`${id}-write`} role="tabpanel" aria-labelledby={`${id}-tab-write`} hidden={tab !== 'write'}>
        <textarea
          id={id}
          className="markdown-input"
          rows={Number(options.rows ?? 12)}
          value={text}
          disabled={disabled}
          readOnly={readonly}
          autoFocus={autofocus}
          onChange={(e) => onChange(e.target.value === '' ? options.emptyValue : e.target.value)}
          onBlur={(e) => onBlur(id, e.target.value)}
          onFocus={(e) => onFocus(id, e.target.value)}
          aria-describedby={ariaDescribedByIds(id)}
        />
      </div>
      {tab === 'preview' && (
        <div id={`${id}-preview`} role="tabpanel" aria-labelledby={`${id}-tab-preview`} className="markdown-preview" tabIndex={0}>
          {text.trim() ? <div dangerouslySetInnerHTML={{ __html: html }} /> : <p className="help">Nothing to preview yet.</p>}
        </div>
      )}
    </div>
  );
}
