// One place for the CMS's errors. Services throw these; only the HTTP layer maps a kind to a status.

export type ErrorKind =
  | 'invalid' // the request is malformed or fails validation
  | 'unauthenticated' // no credentials, or ones that are no longer valid
  | 'forbidden' // valid credentials that do not allow this
  | 'rate-limited'
  | 'not-found'
  | 'not-allowed' // the method does not apply to this resource
  | 'conflict' // a unique value is taken
  | 'precondition' // optimistic concurrency: the version moved on
  | 'too-large'
  | 'range' // a byte range outside the file
  | 'gone' // what was asked for is no longer kept (an expired sync token)
  | 'unsupported-media'
  | 'unavailable' // a backing service is down
  | 'internal'; // a bug: the details stay in the log

export interface ErrorDetail {
  /** JSON pointer (body) or parameter name (query) of the offending value. */
  path: string;
  message: string;
  [extra: string]: unknown;
}

export class CmsError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
    this.name = 'CmsError';
  }
}

export const codes = {
  typeNotFound: 'CMS_ERR_TYPE_NOT_FOUND',
  typeIsSingleton: 'CMS_ERR_TYPE_SINGLETON',
  typeNotSingleton: 'CMS_ERR_TYPE_NOT_SINGLETON',
  entryNotFound: 'CMS_ERR_ENTRY_NOT_FOUND',
  entryInvalidId: 'CMS_ERR_ENTRY_INVALID_ID',
  entryValidation: 'CMS_ERR_ENTRY_VALIDATION',
  entrySystemField: 'CMS_ERR_ENTRY_SYSTEM_FIELD',
  entryUnique: 'CMS_ERR_ENTRY_UNIQUE',
  entryVersion: 'CMS_ERR_ENTRY_VERSION_MISMATCH',
  entryBusy: 'CMS_ERR_ENTRY_BUSY',
  entryBadPrecondition: 'CMS_ERR_ENTRY_BAD_PRECONDITION',
  queryUnknownParam: 'CMS_ERR_QUERY_UNKNOWN_PARAM',
  queryUnknownField: 'CMS_ERR_QUERY_UNKNOWN_FIELD',
  queryUnknownOperator: 'CMS_ERR_QUERY_UNKNOWN_OPERATOR',
  queryBadValue: 'CMS_ERR_QUERY_BAD_VALUE',
  queryBadCursor: 'CMS_ERR_QUERY_BAD_CURSOR',
  bodyInvalidJson: 'CMS_ERR_BODY_INVALID_JSON',
  bodyTooLarge: 'CMS_ERR_BODY_TOO_LARGE',
  bodyTooDeep: 'CMS_ERR_BODY_TOO_DEEP',
  bodyForbiddenKey: 'CMS_ERR_BODY_FORBIDDEN_KEY',
  bodyUnsupportedType: 'CMS_ERR_BODY_UNSUPPORTED_MEDIA_TYPE',
  bodyMissing: 'CMS_ERR_BODY_MISSING',
  routeNotFound: 'CMS_ERR_ROUTE_NOT_FOUND',
  methodNotAllowed: 'CMS_ERR_METHOD_NOT_ALLOWED',
  requestInvalid: 'CMS_ERR_REQUEST_INVALID',
  serviceUnavailable: 'CMS_ERR_SERVICE_UNAVAILABLE',
  adminUiNotBuilt: 'CMS_ERR_ADMIN_UI_NOT_BUILT',
  internal: 'CMS_ERR_INTERNAL',
  entryMedia: 'CMS_ERR_ENTRY_MEDIA',
  mediaNotFound: 'CMS_ERR_MEDIA_NOT_FOUND',
  mediaInvalidId: 'CMS_ERR_MEDIA_INVALID_ID',
  mediaNoFile: 'CMS_ERR_MEDIA_NO_FILE',
  mediaEmpty: 'CMS_ERR_MEDIA_EMPTY',
  mediaTooLarge: 'CMS_ERR_MEDIA_TOO_LARGE',
  mediaTooManyFiles: 'CMS_ERR_MEDIA_TOO_MANY_FILES',
  mediaTooManyParts: 'CMS_ERR_MEDIA_TOO_MANY_PARTS',
  mediaTypeNotAllowed: 'CMS_ERR_MEDIA_TYPE_NOT_ALLOWED',
  mediaTypeNotAccepted: 'CMS_ERR_MEDIA_TYPE_NOT_ACCEPTED',
  mediaTypeMismatch: 'CMS_ERR_MEDIA_TYPE_MISMATCH',
  mediaTooManyPixels: 'CMS_ERR_MEDIA_TOO_MANY_PIXELS',
  mediaTooManyFrames: 'CMS_ERR_MEDIA_TOO_MANY_FRAMES',
  mediaCorrupt: 'CMS_ERR_MEDIA_CORRUPT',
  mediaBadFilename: 'CMS_ERR_MEDIA_BAD_FILENAME',
  mediaBadField: 'CMS_ERR_MEDIA_BAD_FIELD',
  mediaValidation: 'CMS_ERR_MEDIA_VALIDATION',
  mediaVersion: 'CMS_ERR_MEDIA_VERSION_MISMATCH',
  mediaInUse: 'CMS_ERR_MEDIA_IN_USE',
  mediaBadVariant: 'CMS_ERR_MEDIA_BAD_VARIANT',
  mediaRange: 'CMS_ERR_MEDIA_RANGE_NOT_SATISFIABLE',
  mediaFileMissing: 'CMS_ERR_MEDIA_FILE_MISSING',
  mediaAborted: 'CMS_ERR_MEDIA_UPLOAD_ABORTED',
  uploadNotFound: 'CMS_ERR_UPLOAD_NOT_FOUND',
  uploadIncomplete: 'CMS_ERR_UPLOAD_INCOMPLETE',
  authRequired: 'CMS_ERR_AUTH_REQUIRED',
  authInvalid: 'CMS_ERR_AUTH_INVALID',
  forbidden: 'CMS_ERR_FORBIDDEN',
  csrf: 'CMS_ERR_CSRF',
  loginFailed: 'CMS_ERR_LOGIN_FAILED',
  rateLimited: 'CMS_ERR_RATE_LIMITED',
  authValidation: 'CMS_ERR_AUTH_VALIDATION',
  passwordPolicy: 'CMS_ERR_PASSWORD_POLICY',
  passwordWrong: 'CMS_ERR_PASSWORD_WRONG',
  userNotFound: 'CMS_ERR_USER_NOT_FOUND',
  userEmailTaken: 'CMS_ERR_USER_EMAIL_TAKEN',
  userLastAdmin: 'CMS_ERR_USER_LAST_ADMIN',
  setupClosed: 'CMS_ERR_SETUP_CLOSED',
  setupToken: 'CMS_ERR_SETUP_TOKEN',
  tokenNotFound: 'CMS_ERR_TOKEN_NOT_FOUND',
  fieldPrivate: 'CMS_ERR_QUERY_PRIVATE_FIELD',
  localeUnknown: 'CMS_ERR_LOCALE_UNKNOWN',
  entryRef: 'CMS_ERR_ENTRY_REF',
  entryReferenced: 'CMS_ERR_ENTRY_REFERENCED',
  typeNoDrafts: 'CMS_ERR_TYPE_NO_DRAFTS',
  entryNotPublished: 'CMS_ERR_ENTRY_NOT_PUBLISHED',
  entryNothingToDiscard: 'CMS_ERR_ENTRY_NOTHING_TO_DISCARD',
  versionNotFound: 'CMS_ERR_VERSION_NOT_FOUND',
  versionInvalid: 'CMS_ERR_VERSION_INVALID',
  scheduleInvalid: 'CMS_ERR_SCHEDULE_INVALID',
  schedulePast: 'CMS_ERR_SCHEDULE_PAST',
  scheduleNotFound: 'CMS_ERR_SCHEDULE_NOT_FOUND',
  scheduleNotPending: 'CMS_ERR_SCHEDULE_NOT_PENDING',
  scheduleCreator: 'CMS_ERR_SCHEDULE_CREATOR',
  scheduleUnreviewed: 'CMS_ERR_SCHEDULE_UNREVIEWED',
  previewNoUrl: 'CMS_ERR_PREVIEW_NO_URL',
  previewTokenScope: 'CMS_ERR_PREVIEW_TOKEN_SCOPE',
  webhookInvalid: 'CMS_ERR_WEBHOOK_INVALID',
  webhookUrl: 'CMS_ERR_WEBHOOK_URL',
  webhookNotFound: 'CMS_ERR_WEBHOOK_NOT_FOUND',
  webhookDeliveryNotFound: 'CMS_ERR_WEBHOOK_DELIVERY_NOT_FOUND',
  webhookDeliveryBusy: 'CMS_ERR_WEBHOOK_DELIVERY_BUSY',
  syncToken: 'CMS_ERR_SYNC_TOKEN',
  syncTokenExpired: 'CMS_ERR_SYNC_TOKEN_EXPIRED',
} as const;

export const statusOf: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  'rate-limited': 429,
  'not-found': 404,
  'not-allowed': 405,
  conflict: 409,
  precondition: 412,
  'too-large': 413,
  range: 416,
  gone: 410,
  'unsupported-media': 415,
  unavailable: 503,
  internal: 500,
};

export const invalid = (code: string, message: string, details: ErrorDetail[] = []) =>
  new CmsError('invalid', code, message, details);

export const notFound = (code: string, message: string) => new CmsError('not-found', code, message);

/** The body every error response carries. */
export interface ErrorBody {
  error: { code: string; message: string; details: ErrorDetail[] };
}

/** At most this many details go out; a huge body must not produce a huger error. */
export const MAX_DETAILS = 100;

export function errorBody(err: CmsError): ErrorBody {
  const details = err.details.length > MAX_DETAILS
    ? [...err.details.slice(0, MAX_DETAILS), { path: '', message: `${err.details.length - MAX_DETAILS} more problems not shown` }]
    : err.details;
  return { error: { code: err.code, message: err.message, details } };
}
