/**
 * The code → HTTP status table (src/http/status.ts): every code of ERRORS has a status, and the
 * statuses are the ones the API answered when each code still carried its own (the contract
 * below, copied from src/errors.ts before codes lost their statuses). Domain errors carry no status.
 */
import { AppError, ERROR_CODES, type ErrorCode, isRetryable, kindOf } from '../../src/errors';
import { KIND_STATUS, statusOf, statusOfCode } from '../../src/http/status';

const CONTRACT: Record<string, number> = {
    invalid_json: 400,
    invalid_body: 400,
    body_too_large: 413,
    too_many_fields: 413,
    unsupported_encoding: 415,
    unsupported_content_type: 415,
    invalid_multipart: 400,
    missing_image: 400,
    unexpected_field: 400,
    invalid_explain: 400,
    invalid_feedback: 400,
    invalid_label: 400,
    invalid_report: 400,
    invalid_monitor_window: 400,
    unknown_prediction: 404,
    unknown_feedback: 404,
    database_unavailable: 503,
    admin_unauthorized: 401,
    too_many_files: 400,
    too_many_parts: 413,
    field_too_large: 413,
    file_too_large: 413,
    too_many_images: 413,
    upload_too_large: 413,
    empty_file: 400,
    unsupported_image_type: 415,
    invalid_image: 400,
    image_too_large: 413,
    missing_x: 400,
    invalid_x: 400,
    x_out_of_range: 400,
    missing_review: 400,
    invalid_review: 400,
    empty_review: 400,
    review_too_long: 413,
    models_loading: 503,
    overloaded: 503,
    shutting_down: 503,
    unavailable: 503,
    model_server_unavailable: 503,
    model_server_timeout: 503,
    model_server_error: 503,
    model_server_changed: 503,
    too_large_for_model_server: 413,
    rate_limited: 429,
    timeout: 503,
    internal_error: 500,
    not_found: 404,
    invalid_request: 400,
    invalid_datatype: 400,
    invalid_shape: 400,
    invalid_data: 400,
    invalid_binary_data: 400,
    invalid_header_length: 400,
    shape_mismatch: 400,
    unknown_input: 400,
    duplicate_input: 400,
    missing_input: 400,
    wrong_datatype: 400,
    wrong_shape: 400,
    batch_too_large: 400,
    unknown_output: 400,
    unload_unsupported: 400,
    load_failed: 400,
    unauthorized: 401,
    loading: 503,
};

describe('the HTTP status table', () => {
  it('gives every code of ERRORS a status, and no status to a code that does not exist', () => {
    for (const code of ERROR_CODES) expect(typeof statusOfCode(code)).toBe('number');
    expect([...ERROR_CODES].sort()).toEqual(Object.keys(CONTRACT).sort());
  });

  it.each(Object.entries(CONTRACT))('answers %s with %i, as before', (code, status) => {
    expect(statusOfCode(code as ErrorCode)).toBe(status);
    expect(statusOf(new AppError(code as ErrorCode, 'm'))).toBe(status);
  });

  it('maps each kind to one status, and no two kinds to the same one', () => {
    const statuses = Object.values(KIND_STATUS);
    expect(new Set(statuses).size).toBe(statuses.length);
  });
});

describe('domain errors', () => {
  it('carry a code and a kind, not a status', () => {
    const err = new AppError('overloaded', 'busy', { retryAfter: 3 });
    expect(err).toMatchObject({ code: 'overloaded', kind: 'unavailable', retryAfter: 3, expose: true });
    expect(err).not.toHaveProperty('status');
  });

  it('hide only internal faults, and call only unavailable and rate-limited retryable', () => {
    expect(ERROR_CODES.filter((c) => !new AppError(c, 'm').expose)).toEqual(['internal_error']);
    expect(ERROR_CODES.filter((c) => isRetryable(kindOf(c))).map(statusOfCode).every((s) => s === 503 || s === 429)).toBe(true);
  });
});
