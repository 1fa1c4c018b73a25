// The edit view of one entry (/content/:type/new, /content/:type/:id, /content/:singleton/single):
// a form generated from the type's schema, with drafts, publishing, schedules, history and preview.
import Form from '@rjsf/core';
import type { ErrorSchema, RJSFValidationError } from '@rjsf/utils';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useBlocker, useNavigate, useParams } from 'react-router-dom';
import { api, ApiError, SESSION_EXPIRED } from '../api';
import { ErrorPage, Loading, NoSuchType } from '../components/Common';
import { ConfirmDialog, useConfirm } from '../components/Dialog';
import { PendingSchedules, ScheduleDialog } from '../components/EditSchedules';
import { VersionHistory } from '../components/VersionHistory';
import { entryTitle, formatDate, STATUS_TEXT } from '../format';
import { useSession } from '../session';
import { messageOf, useToast } from '../toasts';
import { can, type Entry, type TypeInfo } from '../types';
import {
  cleanValues,
  errorsFromDetails,
  formSchemas,
  friendlyErrors,
  loadFormValidators,
  mergeView,
  slugify,
  stableJson,
  templates,
  userFields,
  viewIn,
  widgets,
  type EditContext,
  type FormValidators,
} from '../widgets';

type Json = Record<string, unknown>;

export function EditPage() {
  const { type: typeId = '', id } = useParams();
  const { typeById, loading } = useSession();
  const type = typeById(typeId);
  if (!type) return loading ? <Loading /> : <NoSuchType typeId={typeId} />;
  const entryId = type.singleton ? undefined : id;
  return <EntryEditor key={`${type.id}/${entryId ?? 'new'}`} type={type} entryId={entryId} />;
}

/** Whether the value at an error's property ('.related.2') is a list item not filled in yet. */
function isEmptyListItem(data: Json, property: string | undefined): boolean {
  const parts = (property ?? '').split('.').filter(Boolean);
  const last = parts.pop();
  if (last === undefined || !/^\d+$/.test(last)) return false;
  let list: unknown = data;
  for (const part of parts) list = list && typeof list === 'object' ? (list as Json)[part] : undefined;
  if (!Array.isArray(list)) return false;
  const item: unknown = list[Number(last)];
  return item === undefined || item === null;
}

interface Stash {
  values: Json;
  version?: number;
  at: string;
  slugEdited?: boolean;
  /** Who typed it: another user signing in on this tab does not get it. */
  user?: string;
  /** Typed while a new entry was first saved: it comes back without a "restored" notice. */
  quiet?: boolean;
}

const stashKeyOf = (type: TypeInfo, entryId: string | undefined) => `cms:unsaved:${type.id}:${type.singleton ? 'single' : (entryId ?? 'new')}`;

function EntryEditor({ type, entryId }: { type: TypeInfo; entryId: string | undefined }) {
  const session = useSession();
  const { me, locales, defaultLocale, typeById } = session;
  const toast = useToast();
  const navigate = useNavigate();
  const formRef = useRef<Form>(null);

  const collection = `/api/content/${encodeURIComponent(type.id)}`;
  const isNew = !type.singleton && !entryId;
  const stashKey = stashKeyOf(type, entryId);
  const [confirm, confirmDialog] = useConfirm();
  const mayWrite = can(me?.role, 'write');
  const mayPublish = type.drafts && can(me?.role, 'publish');

  const [state, setState] = useState<'loading' | 'ready' | 'notfound' | 'error'>(isNew ? 'ready' : 'loading');
  const [loadError, setLoadError] = useState<string | null>(null);
  const [entry, setEntry] = useState<Entry | null>(null);
  const [values, setValues] = useState<Json>({});
  const [baseline, setBaseline] = useState(() => stableJson({}));
  const [locale, setLocale] = useState(defaultLocale);
  const [extraErrors, setExtraErrors] = useState<Json>({});
  const [problems, setProblems] = useState<string[]>([]);
  const [liveValidate, setLiveValidate] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [conflict, setConflict] = useState<{ current?: number } | null>(null);
  const [referrers, setReferrers] = useState<{ type?: string; id?: string; field?: string; message: string }[] | null>(null);
  const [panel, setPanel] = useState<'history' | null>(null);
  const [dialog, setDialog] = useState<'schedule' | 'delete' | null>(null);
  const [validators, setValidators] = useState<FormValidators | null>(null);
  const [validatorError, setValidatorError] = useState<string | null>(null);
  const [validatorTry, setValidatorTry] = useState(0);
  const [slugEdited, setSlugEdited] = useState(false);
  const [hadSlug, setHadSlug] = useState(false);
  const [schedulesKey, setSchedulesKey] = useState(0);
  const modeRef = useRef<'draft' | 'publish'>('draft');

  const schemas = useMemo(() => formSchemas(type, locale, defaultLocale), [type, locale, defaultLocale]);
  const fieldNames = useMemo(() => new Set(Object.keys((type.schema as { properties?: Json }).properties ?? {})), [type.schema]);
  const payload = useMemo(() => cleanValues(values, schemas.idArrays), [values, schemas.idArrays]);
  const dirty = state === 'ready' && mayWrite && stableJson(payload) !== baseline;
  const entryBase = type.singleton ? collection : entry ? `${collection}/${encodeURIComponent(entry._id)}` : null;

  // refs for event listeners that must see the latest state
  const dirtyRef = useRef(false);
  dirtyRef.current = dirty;
  const valuesRef = useRef<Json>(values);
  valuesRef.current = values;
  const stashRef = useRef<Stash | null>(null);
  stashRef.current = dirty ? { values, version: entry?._version, at: new Date().toISOString(), slugEdited, user: me?._id } : null;

  /** Reads the entry (all locales, the draft); `restore` also brings back a stashed unsaved form. */
  const load = useCallback(
    async (restore: boolean, isLive: () => boolean = () => true) => {
      let loaded: Entry | null = null;
      if (!isNew) {
        try {
          const res = await api<{ data: Entry }>(type.singleton ? collection : `${collection}/${encodeURIComponent(entryId!)}`, { query: { locale: '*', preview: 'true' } });
          loaded = res.data;
        } catch (e) {
          if (!isLive()) return;
          if (e instanceof ApiError && e.status === 404 && type.singleton) loaded = null;
          else if (e instanceof ApiError && (e.status === 404 || e.code === 'CMS_ERR_ENTRY_INVALID_ID')) {
            setState('notfound');
            return;
          } else {
            setLoadError(messageOf(e));
            setState('error');
            toast.error(e);
            return;
          }
        }
      }
      if (!isLive()) return;
      const fields = loaded ? userFields(loaded) : {};
      setEntry(loaded);
      setBaseline(stableJson(cleanValues(fields, schemas.idArrays)));
      setExtraErrors({});
      setProblems([]);
      setConflict(null);
      setReferrers(null);
      const slugField = type.fields.find((f) => f.slugFrom);
      setHadSlug(!!(slugField && typeof fields[slugField.name] === 'string' && fields[slugField.name]));
      let next = fields;
      if (restore) {
        try {
          const raw = sessionStorage.getItem(stashKey);
          const stash = raw ? (JSON.parse(raw) as Stash) : null;
          if (stash && stash.user !== undefined && stash.user !== me?._id) sessionStorage.removeItem(stashKey);
          else if (stash && stash.values && typeof stash.values === 'object') {
            next = stash.values;
            if (stash.slugEdited) setSlugEdited(true);
            if (!stash.quiet) toast.info('Restored your unsaved changes');
            // the text was typed over the version stashed with it: if someone saved since, saving must
            // say so (If-Match of that version) rather than silently overwrite their changes
            if (loaded && typeof stash.version === 'number' && stash.version !== loaded._version) {
              setEntry({ ...loaded, _version: stash.version });
              setConflict({ current: loaded._version });
            }
          }
        } catch {
          sessionStorage.removeItem(stashKey);
        }
      }
      setValues(next);
      setState('ready');
    },
    // schemas.idArrays does not change with the locale
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [collection, entryId, isNew, stashKey, type.singleton, type.fields, toast, me?._id],
  );

  useEffect(() => {
    let live = true;
    void load(true, () => live);
    return () => {
      live = false;
    };
  }, [load]);

  // the form's validators (compiled on the server): no form without them
  useEffect(() => {
    let live = true;
    setValidatorError(null);
    loadFormValidators(type.form).then(
      (v) => {
        if (live) setValidators(v);
      },
      (e: unknown) => {
        if (!live) return;
        setValidatorError(messageOf(e));
        toast.error(e);
      },
    );
    return () => {
      live = false;
    };
  }, [type.form, validatorTry, toast]);

  // unsaved changes live in sessionStorage too, so an expired session or a reload loses nothing
  useEffect(() => {
    if (state !== 'ready') return;
    if (dirty) sessionStorage.setItem(stashKey, JSON.stringify({ values, version: entry?._version, at: new Date().toISOString(), slugEdited, user: me?._id } satisfies Stash));
    else sessionStorage.removeItem(stashKey);
  }, [values, dirty, state, stashKey, entry?._version, slugEdited, me?._id]);

  useEffect(() => {
    const onExpired = () => {
      if (stashRef.current) sessionStorage.setItem(stashKey, JSON.stringify(stashRef.current));
    };
    const onBeforeUnload = (e: BeforeUnloadEvent) => {
      if (!dirtyRef.current) return;
      e.preventDefault();
      e.returnValue = '';
    };
    window.addEventListener(SESSION_EXPIRED, onExpired);
    window.addEventListener('beforeunload', onBeforeUnload);
    return () => {
      window.removeEventListener(SESSION_EXPIRED, onExpired);
      window.removeEventListener('beforeunload', onBeforeUnload);
    };
  }, [stashKey]);

  // leaving within the app (links, Back, Forward) asks first while there are unsaved changes; an
  // expired session goes to login without asking (the form is stashed and comes back after)
  const blocker = useBlocker(
    ({ currentLocation, nextLocation }) =>
      dirtyRef.current &&
      !nextLocation.pathname.startsWith('/login') &&
      (currentLocation.pathname !== nextLocation.pathname || currentLocation.search !== nextLocation.search),
  );

  const formData = useMemo(() => viewIn(values, schemas.localized, locale), [values, schemas.localized, locale]);
  const formDataRef = useRef<Json>(formData);
  formDataRef.current = formData;
  const slug = useMemo(() => {
    const props = (type.schema as { properties?: Record<string, { maxLength?: number; 'x-cms'?: { slugFrom?: string } }> }).properties ?? {};
    for (const [name, p] of Object.entries(props)) {
      const from = p['x-cms']?.slugFrom;
      if (from) return { name, from, max: typeof p.maxLength === 'number' ? p.maxLength : 120 };
    }
    return null;
  }, [type.schema]);

  const onFormChange = (data: Json | undefined) => {
    const next = mergeView(values, data ?? {}, schemas.localized, locale);
    // a server error under a field goes away once the field changes
    const changed = Object.keys(extraErrors).filter((k) => stableJson(next[k]) !== stableJson(values[k]));
    if (changed.length) {
      setExtraErrors((old) => {
        const copy = { ...old };
        for (const k of changed) delete copy[k];
        return copy;
      });
    }
    // a slug follows its source field (its default-locale value) until the editor types one
    if (slug && mayWrite && !slugEdited && !hadSlug) {
      const source = schemas.localized.has(slug.from) ? (next[slug.from] as Json | undefined)?.[defaultLocale] : next[slug.from];
      const prev = schemas.localized.has(slug.from) ? (values[slug.from] as Json | undefined)?.[defaultLocale] : values[slug.from];
      if (source !== prev) {
        const made = typeof source === 'string' ? slugify(source, slug.max) : '';
        if (made) next[slug.name] = made;
        else delete next[slug.name];
      }
    }
    setValues(next);
  };

  const filledLocales = useCallback(
    (field: string) => {
      const v = values[field];
      if (!v || typeof v !== 'object' || Array.isArray(v)) return [];
      return locales.filter((l) => {
        const x = (v as Json)[l];
        return x !== undefined && x !== null && x !== '';
      });
    },
    [values, locales],
  );

  const filled = useMemo(() => Object.fromEntries([...schemas.localized].map((f) => [f, filledLocales(f)])), [schemas.localized, filledLocales]);
  const context: EditContext = useMemo(
    () => ({
      locale,
      defaultLocale,
      locales,
      filled,
      slugAuto: mayWrite && !slugEdited && !hadSlug,
      markSlugEdited: () => setSlugEdited(true),
      typeById,
    }),
    [locale, defaultLocale, locales, filled, mayWrite, slugEdited, hadSlug, typeById],
  );

  const transformErrors = useCallback(
    (errors: RJSFValidationError[]) => {
      let kept = errors;
      // drafts may be saved incomplete: `required` is checked when publishing
      if (type.drafts && modeRef.current === 'draft') kept = kept.filter((e) => e.name !== 'required');
      // a list item added but not filled in yet is left out when saving: no complaint about it
      kept = kept.filter((e) => !(e.name === 'type' && isEmptyListItem(formDataRef.current, e.property)));
      return friendlyErrors(kept);
    },
    [type.drafts],
  );

  /** Client-side validation in the given mode; shows the errors under their fields. */
  const validate = (mode: 'draft' | 'publish'): boolean => {
    modeRef.current = mode;
    const ok = formRef.current ? formRef.current.validateForm() : true;
    if (!ok) {
      setLiveValidate(true);
      setProblems(['Some fields need attention: see the messages under them.']);
    }
    return ok;
  };

  const showWriteError = (e: unknown) => {
    if (!(e instanceof ApiError)) {
      toast.error(e);
      return;
    }
    if (e.status === 401) return; // the login page takes over; the form is stashed
    if (e.code === 'CMS_ERR_ENTRY_VERSION_MISMATCH' || e.status === 412) {
      const current = e.details[0]?.current;
      setConflict({ current: typeof current === 'number' ? current : undefined });
      return;
    }
    if (e.code === 'CMS_ERR_ENTRY_REFERENCED') {
      const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
      setReferrers(e.details.map((d) => ({ type: text(d.type), id: text(d.id), field: text(d.field), message: d.message })));
      return;
    }
    if (e.details.length && (e.status === 400 || e.status === 409)) {
      // a taken unique value reads better in words than as the index's complaint
      const details = e.code === 'CMS_ERR_ENTRY_UNIQUE' ? e.details.map((d) => ({ ...d, message: 'Another entry already uses this value' })) : e.details;
      const { tree, rest } = errorsFromDetails(details, schemas.localized, fieldNames);
      setExtraErrors(tree);
      setProblems([e.message, ...rest]);
      setLiveValidate(true);
      return;
    }
    toast.error(e);
  };

  /** Saves the form; returns the saved entry (as the server answered), or null when it was not saved. */
  const save = async (mode: 'draft' | 'publish'): Promise<Entry | null> => {
    setProblems([]);
    setExtraErrors({});
    if (!validate(mode)) return null;
    try {
      let res: { data: Entry };
      if (type.singleton) res = await api(collection, { method: 'PUT', body: payload, ifMatch: entry?._version });
      else if (!entry) res = await api(collection, { method: 'POST', body: payload });
      else res = await api(`${collection}/${encodeURIComponent(entry._id)}`, { method: 'PUT', body: payload, ifMatch: entry._version });
      sessionStorage.removeItem(stashKey);
      return res.data;
    } catch (e) {
      showWriteError(e);
      return null;
    }
  };

  /**
   * After a write: a new entry gets its own address, and what was typed while it was being saved
   * (`sent` is what the save carried) goes along; otherwise the form reloads from the server.
   */
  const afterWrite = async (saved: Entry, sent?: Json) => {
    if (isNew) {
      dirtyRef.current = false;
      sessionStorage.removeItem(stashKey);
      const typed = valuesRef.current;
      if (sent !== undefined && stableJson(cleanValues(typed, schemas.idArrays)) !== stableJson(sent)) {
        const carried: Stash = { values: typed, version: saved._version, at: new Date().toISOString(), slugEdited, user: me?._id, quiet: true };
        sessionStorage.setItem(stashKeyOf(type, saved._id), JSON.stringify(carried));
      }
      navigate(`/content/${type.id}/${saved._id}`, { replace: true });
      return;
    }
    await load(false);
  };

  const run = async (name: string, action: () => Promise<void>) => {
    if (busy) return;
    setBusy(name);
    try {
      await action();
    } finally {
      setBusy(null);
    }
  };

  const onSave = () =>
    run('save', async () => {
      const sent = payload;
      const saved = await save('draft');
      if (!saved) return;
      toast.success('Saved');
      // what was typed while the save was on its way is not thrown away by the reload
      const typed = valuesRef.current;
      await afterWrite(saved, sent);
      if (!isNew && stableJson(cleanValues(typed, schemas.idArrays)) !== stableJson(sent)) setValues(typed);
    });

  /** The entry as the server has it: the form is saved first when it has changes (or is new). */
  const ensureSaved = (mode: 'draft' | 'publish'): Promise<Entry | null> => (dirty || !entry ? save(mode) : Promise.resolve(entry));
  const addressOf = (target: Entry) => (type.singleton ? collection : `${collection}/${encodeURIComponent(target._id)}`);

  const onPublish = () =>
    run('publish', async () => {
      const sent = payload;
      const target = await ensureSaved('publish');
      if (!target || (target === entry && !validate('publish'))) return;
      let failure: unknown = null;
      try {
        await api(`${addressOf(target)}/publish`, { method: 'POST', ifMatch: target._version });
        toast.success('Published');
        setLiveValidate(false);
        modeRef.current = 'draft';
      } catch (e) {
        if (target !== entry) toast.success('Saved');
        failure = e;
      }
      if (failure === null || target !== entry) await afterWrite(target, sent);
      // shown after the reload, which would clear them
      if (failure !== null) showWriteError(failure);
    });

  const onStateAction = async (action: 'unpublish' | 'discard') => {
    // discarding reloads the published version: edits not saved yet go too, so ask first
    if (action === 'discard' && dirty) {
      const ok = await confirm({
        title: 'Discard changes?',
        message: <p>This goes back to the published version of this {type.title}. The unpublished changes and the changes you have not saved in this form are lost.</p>,
        confirmLabel: 'Discard',
        danger: true,
      });
      if (!ok) return;
    }
    await run(action, async () => {
      if (!entryBase || !entry) return;
      try {
        const res = await api<{ data: Entry }>(`${entryBase}/${action}`, { method: 'POST', ifMatch: entry._version });
        if (action === 'unpublish') {
          // the draft's fields stay as they are: keep the form (and any unsaved edits), take the new state
          setEntry({ ...entry, _version: res.data._version, _status: res.data._status, _publishedAt: res.data._publishedAt ?? null, _updatedAt: res.data._updatedAt });
          toast.success('Unpublished');
        } else {
          sessionStorage.removeItem(stashKey);
          await load(false);
          toast.success('Discarded the unpublished changes');
        }
      } catch (e) {
        showWriteError(e);
      }
    });
  };

  const onDelete = () =>
    run('delete', async () => {
      setDialog(null);
      if (!entryBase) return;
      try {
        await api(entryBase, { method: 'DELETE', ifMatch: entry?._version });
        sessionStorage.removeItem(stashKey);
        dirtyRef.current = false;
        toast.success('Deleted');
        if (type.singleton) await load(false);
        else navigate(`/content/${type.id}`, { replace: true });
      } catch (e) {
        showWriteError(e);
      }
    });

  const onPreview = () =>
    run('preview', async () => {
      const sent = payload;
      const target = await ensureSaved('draft');
      if (!target) return;
      if (target !== entry) toast.success('Saved');
      try {
        const res = await api<{ data: { url: string } }>(`${addressOf(target)}/preview`, { method: 'POST', query: { locale } });
        window.open(res.data.url, '_blank', 'noopener,noreferrer');
      } catch (e) {
        toast.error(e);
      }
      if (target !== entry) await afterWrite(target, sent);
    });

  const onRestored = async (n: number) => {
    sessionStorage.removeItem(stashKey);
    await load(false);
    toast.success(`Restored version ${n}`);
  };

  const reloadAfterConflict = async () => {
    sessionStorage.removeItem(stashKey);
    await load(false);
    toast.info('Reloaded the latest version');
  };

  // --- rendering ---

  if (validatorError !== null) {
    return (
      <ErrorPage title={type.title} onRetry={() => setValidatorTry((n) => n + 1)}>
        The form could not be prepared: {validatorError}
      </ErrorPage>
    );
  }
  if (state === 'loading' || !validators) return <Loading />;
  if (state === 'notfound') {
    return (
      <section>
        <div className="toolbar">
          <h1>Entry not found</h1>
        </div>
        <div className="empty">
          This {type.title} does not exist, or was deleted. <Link to={`/content/${type.id}`}>Back to {type.title}</Link>
        </div>
      </section>
    );
  }
  if (state === 'error') {
    return (
      <ErrorPage
        title={type.title}
        onRetry={() => {
          setState('loading');
          void load(true);
        }}
      >
        This entry could not be loaded: {loadError}
      </ErrorPage>
    );
  }

  const status = type.drafts ? (entry?._status ?? 'draft') : entry ? 'published' : 'draft';
  const heading = type.singleton ? type.title : isNew ? `New ${type.title}` : entryTitle(entry, type, defaultLocale) || type.title;
  const hasLocales = schemas.localized.size > 0 && locales.length > 1;
  const disabled = busy !== null;
  const canDelete = mayWrite && !!entry && (mayPublish || !type.drafts || status === 'draft');

  return (
    <section className={panel ? 'edit-view with-panel' : 'edit-view'}>
      {!type.singleton && (
        <p className="crumbs">
          <Link to={`/content/${type.id}`}>{type.title}</Link> <span aria-hidden="true">›</span> {isNew ? 'New' : heading}
        </p>
      )}
      <div className="toolbar edit-toolbar">
        <h1>{heading}</h1>
        {(entry || type.drafts) && <span className={`badge badge-${status}`}>{STATUS_TEXT[status] ?? status}</span>}
        {dirty && <span className="unsaved" role="status">Unsaved changes</span>}
      </div>
      <div className="edit-actions" role="toolbar" aria-label="Entry actions">
        {mayWrite && (
          <button type="button" className="primary" onClick={() => void onSave()} disabled={disabled}>
            {busy === 'save' ? 'Saving…' : type.drafts ? 'Save draft' : 'Save'}
          </button>
        )}
        {mayPublish && (
          <button type="button" className={type.drafts ? 'primary' : ''} onClick={() => void onPublish()} disabled={disabled || (status === 'published' && !dirty && !!entry)}>
            Publish
          </button>
        )}
        {mayPublish && entry && (status === 'published' || status === 'changed') && (
          <button type="button" onClick={() => void onStateAction('unpublish')} disabled={disabled}>
            Unpublish
          </button>
        )}
        {mayPublish && entry && status === 'changed' && (
          <button type="button" onClick={() => void onStateAction('discard')} disabled={disabled} title="Throw away the unpublished changes: back to the published version">
            Discard changes
          </button>
        )}
        {mayPublish && entry && (
          <button type="button" onClick={() => setDialog('schedule')} disabled={disabled}>
            Schedule…
          </button>
        )}
        {entry && (
          <button type="button" onClick={() => setPanel(panel === 'history' ? null : 'history')} aria-expanded={panel === 'history'} disabled={busy === 'delete'}>
            History
          </button>
        )}
        {type.previewUrl && mayWrite && (entry || dirty) && (
          <button type="button" onClick={() => void onPreview()} disabled={disabled} title="Open the draft on the site in a new tab">
            Preview
          </button>
        )}
        {canDelete && (
          <button type="button" className="danger" onClick={() => setDialog('delete')} disabled={disabled}>
            Delete
          </button>
        )}
      </div>
      <p className="edit-meta">
        {entry ? (
          <>
            Last saved {formatDate(entry._updatedAt, '—')}
            {type.drafts && entry._publishedAt ? ` · Published ${formatDate(entry._publishedAt, '—')}` : type.drafts ? ' · Not published' : ''}
            {` · Version ${entry._version}`}
          </>
        ) : type.singleton ? (
          'Not created yet: fill it in and save.'
        ) : (
          'Not saved yet.'
        )}
        {!mayWrite && <strong> · Read only: your role cannot change entries.</strong>}
      </p>
      {entry && (
        <PendingSchedules type={type.id} entryId={entry._id} refreshKey={schedulesKey + (entry._version ?? 0)} canCancel={mayPublish} />
      )}
      {conflict && (
        <div className="notice notice-error" role="alert">
          <p>
            Someone else changed this entry since you opened it{conflict.current ? ` (it is now at version ${conflict.current})` : ''}, so your changes were not saved. Reload to
            get their version; your unsaved changes will be lost (copy anything you want to keep first).
          </p>
          <button type="button" onClick={() => void reloadAfterConflict()}>
            Reload
          </button>{' '}
          <button type="button" onClick={() => setConflict(null)}>
            Keep editing
          </button>
        </div>
      )}
      {referrers && (
        <div className="notice notice-error" role="alert">
          <p>This entry cannot be deleted while other entries refer to it:</p>
          <ul>
            {referrers.map((r, i) => (
              <li key={i}>{r.type && r.id ? <Link to={`/content/${r.type}/${r.id}`}>{r.message}</Link> : r.message}</li>
            ))}
          </ul>
          <button type="button" onClick={() => setReferrers(null)}>
            Dismiss
          </button>
        </div>
      )}
      {problems.length > 0 && (
        <div className="notice notice-error form-problems" role="alert">
          {problems.map((p, i) => (
            <p key={i}>{p}</p>
          ))}
        </div>
      )}
      <div className="edit-layout">
        <div className="edit-main panel">
          {hasLocales && (
            <div className="locale-bar">
              <label htmlFor="edit-locale">Locale</label>
              <select id="edit-locale" value={locale} onChange={(e) => setLocale(e.target.value)}>
                {locales.map((l) => (
                  <option key={l} value={l}>
                    {l}
                    {l === defaultLocale ? ' (default)' : ''}
                  </option>
                ))}
              </select>
              <span className="locale-fill" title="Localized fields filled in per locale">
                {locales.map((l) => {
                  const n = [...schemas.localized].filter((f) => filledLocales(f).includes(l)).length;
                  return (
                    <span key={l} className={n === schemas.localized.size ? 'locale-chip full' : n ? 'locale-chip part' : 'locale-chip'}>
                      {l}: {n}/{schemas.localized.size}
                    </span>
                  );
                })}
              </span>
            </div>
          )}
          <Form
            ref={formRef}
            id="entry-form"
            className="entry-form"
            schema={schemas.schema}
            uiSchema={schemas.uiSchema}
            formData={formData}
            validator={locale === defaultLocale ? validators.schema : validators.otherLocale}
            widgets={widgets}
            templates={templates}
            formContext={context}
            onChange={(e) => onFormChange(e.formData as Json | undefined)}
            onSubmit={() => void onSave()}
            onError={() => {
              setLiveValidate(true);
              setProblems(['Some fields need attention: see the messages under them.']);
            }}
            liveValidate={liveValidate ? 'onChange' : undefined}
            showErrorList={false}
            noHtml5Validate
            extraErrors={extraErrors as ErrorSchema}
            transformErrors={transformErrors}
            readonly={!mayWrite}
            focusOnFirstError
            experimental_defaultFormStateBehavior={{ emptyObjectFields: 'skipEmptyDefaults' }}
          >
            <></>
          </Form>
        </div>
        {panel === 'history' && entry && entryBase && (
          <VersionHistory
            base={entryBase}
            type={type}
            currentVersion={entry._version}
            dirty={dirty}
            canRestore={mayWrite}
            onRestored={(n) => void onRestored(n)}
            onClose={() => setPanel(null)}
          />
        )}
      </div>
      {dialog === 'schedule' && entryBase && (
        <ScheduleDialog
          base={entryBase}
          defaultAction={status === 'published' ? 'unpublish' : 'publish'}
          onClose={() => setDialog(null)}
          onDone={() => {
            setDialog(null);
            setSchedulesKey((k) => k + 1);
          }}
        />
      )}
      {dialog === 'delete' && (
        <ConfirmDialog
          title={`Delete this ${type.title}?`}
          message={<p>“{heading}” will be deleted{type.drafts ? ', published or not' : ''}. Its version history goes too. This cannot be undone.</p>}
          confirmLabel="Yes, delete"
          danger
          onConfirm={() => void onDelete()}
          onCancel={() => setDialog(null)}
        />
      )}
      {blocker.state === 'blocked' && (
        <ConfirmDialog
          title="Leave without saving?"
          message={<p>You have unsaved changes in this {type.title}. If you leave now, they are lost.</p>}
          confirmLabel="Leave without saving"
          cancelLabel="Stay"
          danger
          onConfirm={() => {
            dirtyRef.current = false;
            sessionStorage.removeItem(stashKey);
            blocker.proceed();
          }}
          onCancel={() => blocker.reset()}
        />
      )}
      {confirmDialog}
    </section>
  );
}
