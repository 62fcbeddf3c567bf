//! Persists a [`Rows`] plan in one statement. The plan travels as one JSON
//! parameter and each data-modifying CTE reads its part by name, so adding a
//! column means one field in the plan and one expression here, not a
//! renumbering of binds. The CTEs run together and the foreign keys are
//! checked at the statement's end: one round trip opens or updates the SR
//! and records the submission, its samples, links, rejections, events,
//! outbox rows, correspondence and the answer.

use sqlx::types::Json;

use super::plan::Rows;
use crate::store::outbox::OutboxKind;
use crate::store::queue::SAMPLES;

/// Writes `rows`.
pub(super) async fn write<'e>(
    db: impl sqlx::PgExecutor<'e>,
    rows: &Rows<'_>,
) -> Result<(), sqlx::Error> {
    let mut plan = serde_json::to_value(rows).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    scrub(&mut plan);
    sqlx::query(
        "WITH p AS (
             SELECT $1::jsonb AS j, ($1::jsonb->>'at')::timestamptz AS at,
                    ($1::jsonb->'submission'->>'id')::uuid AS sub,
                    ($1::jsonb->'submission'->>'inbound_id')::bigint AS inbound),
         sr_new AS (
             INSERT INTO service_requests (sr_number, grant_number, customer_email, severity,
                                           status, tier, opened_at, escalation_due,
                                           next_update_due, correspondent, channel, title,
                                           opened_by, clock_paused_at, first_answer_due,
                                           acknowledged_at)
             SELECT n->>'number', n->>'grant_number', n->>'customer_email',
                    (n->>'severity')::smallint, n->>'status', n->>'tier', p.at,
                    (n->>'escalation_due')::timestamptz, (n->>'next_update_due')::timestamptz,
                    n->'correspondent', n->>'channel', n->>'title', (n->>'opened_by')::bigint,
                    (n->>'paused_at')::timestamptz, (n->>'first_answer_due')::timestamptz,
                    CASE WHEN p.j ? 'answer' THEN p.at END
             FROM p, LATERAL (SELECT p.j->'sr'->'new' AS n) x
             WHERE n IS NOT NULL
             RETURNING id),
         sr_upd AS (
             UPDATE service_requests sr
             SET status = u->>'status',
                 -- Staying closed (an out-of-office notice) keeps how it closed.
                 closed_at = CASE WHEN u->>'status' = 'closed' THEN sr.closed_at END,
                 resolution = CASE WHEN u->>'status' = 'closed' THEN sr.resolution END,
                 closed_from = CASE WHEN u->>'status' = 'closed' THEN sr.closed_from END,
                 escalation_due = (u->>'escalation_due')::timestamptz,
                 next_update_due = (u->>'next_update_due')::timestamptz,
                 clock_paused_at = (u->>'paused_at')::timestamptz,
                 first_answer_due = (u->>'first_answer_due')::timestamptz,
                 away_until = (u->>'away_until')::timestamptz,
                 info_asked_at = (u->>'info_asked_at')::timestamptz,
                 acknowledged_at = COALESCE(sr.acknowledged_at,
                                            CASE WHEN p.j ? 'answer' THEN p.at END),
                 correspondent = COALESCE(u->'correspondent', sr.correspondent)
             FROM p, LATERAL (SELECT p.j->'sr'->'update' AS u) x
             WHERE sr.id = (u->>'id')::bigint),
         sr AS (
             SELECT id FROM sr_new
             UNION ALL
             SELECT (j->'sr'->'update'->>'id')::bigint FROM p WHERE j->'sr' ? 'update'),
         sub AS (
             INSERT INTO submissions (id, inbound_id, sr_id, sender, outcome, verification,
                                      missing_fields, metadata, report, sender_auth, jobs,
                                      created_at, opened_with)
             SELECT p.sub, p.inbound, (SELECT id FROM sr), s->>'sender', s->>'outcome',
                    s->'verification',
                    ARRAY(SELECT jsonb_array_elements_text(s->'missing_fields')),
                    s->'metadata', s->'report', s->'sender_auth',
                    jsonb_array_length(p.j->'jobs'), p.at, s->'opened_with'
             FROM p, LATERAL (SELECT p.j->'submission' AS s) x),
         smp AS (
             INSERT INTO samples (sha256, size, kind, first_seen, last_seen)
             SELECT x.sha256, x.size, x.kind, p.at, p.at
             FROM p, jsonb_to_recordset(p.j->'samples') AS x(sha256 text, size bigint, kind text)
             ON CONFLICT (sha256) DO UPDATE SET last_seen = EXCLUDED.last_seen),
         lnk AS (
             INSERT INTO submission_samples (submission_id, sha256, path, warnings)
             SELECT p.sub, x.sha256, x.path, x.warnings
             FROM p, ROWS FROM (jsonb_to_recordset(p.j->'links')
                                AS (sha256 text, path text, warnings jsonb))
                     WITH ORDINALITY AS x(sha256, path, warnings, n)
             ORDER BY x.n),
         rej AS (
             INSERT INTO rejected_items (submission_id, path, sha256, size, reason, detail)
             SELECT p.sub, x.path, x.sha256, x.size, x.reason, x.detail
             FROM p, ROWS FROM (jsonb_to_recordset(p.j->'rejected')
                                AS (path text, sha256 text, size bigint, reason text, detail text))
                     WITH ORDINALITY AS x(path, sha256, size, reason, detail, n)
             ORDER BY x.n),
         evt AS (
             INSERT INTO events (actor, sr_id, submission_id, at, kind, detail)
             SELECT 'intake', (SELECT id FROM sr), p.sub, p.at, x.kind, x.detail
             FROM p, ROWS FROM (jsonb_to_recordset(p.j->'events') AS (kind text, detail jsonb))
                     WITH ORDINALITY AS x(kind, detail, n)
             ORDER BY x.n),
         obx AS (
             INSERT INTO outbox (kind, routing_key, priority, payload)
             SELECT $2::text, $4::text, (p.j->>'job_priority')::smallint, x.job
             FROM p, jsonb_array_elements(p.j->'jobs') WITH ORDINALITY AS x(job, n)
             ORDER BY x.n),
         ans AS (
             INSERT INTO outbox (kind, routing_key, priority, payload)
             SELECT $3::text, '', 0, p.j->'answer' FROM p WHERE p.j ? 'answer'
             RETURNING id, payload),
         cor_in AS (
             INSERT INTO correspondence (sr_id, submission_id, direction, at, inbound_id,
                                         sender, subject, message_id, account_id)
             SELECT (SELECT id FROM sr), p.sub, 'in', p.at, p.inbound, m->>'sender',
                    m->>'subject', m->>'message_id', (m->>'account')::bigint
             FROM p, LATERAL (SELECT p.j->'input' AS m) x),
         cor_out AS (
             INSERT INTO correspondence (sr_id, submission_id, direction, at, answer, outbox_id)
             SELECT (SELECT id FROM sr), p.sub, 'out', p.at, ans.payload, ans.id
             FROM p, ans),
         prev AS (
             UPDATE submissions SET completed_by = p.sub
             FROM p WHERE id = (p.j->'submission'->>'completes')::uuid),
         inb AS (
             UPDATE inbound SET state = 'recorded', error = NULL
             FROM p WHERE id = p.inbound),
         elsewhere AS (
             INSERT INTO events (actor, sr_id, submission_id, at, kind, detail)
             SELECT 'intake', sr.id, p.sub, p.at, p.j->'elsewhere'->>'kind',
                    p.j->'elsewhere'->'detail'
             FROM p JOIN service_requests sr ON sr.sr_number = p.j->'elsewhere'->>'sr')
         SELECT 1",
    )
    .bind(Json(plan))
    .bind(OutboxKind::SampleAnalyse.as_str())
    .bind(OutboxKind::MailAnswer.as_str())
    .bind(SAMPLES)
    .execute(db)
    .await?;
    Ok(())
}

/// PostgreSQL keeps no NUL in text or JSON: one a customer wrote (a subject,
/// a field of the form, a file name) is kept as U+FFFD rather than making
/// the whole input unrecordable.
fn scrub(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) if s.contains('\0') => *s = s.replace('\0', "\u{FFFD}"),
        Value::Array(items) => items.iter_mut().for_each(scrub),
        Value::Object(fields) => {
            if fields.keys().any(|k| k.contains('\0')) {
                let old = std::mem::take(fields);
                for (k, mut x) in old {
                    scrub(&mut x);
                    fields.insert(k.replace('\0', "\u{FFFD}"), x);
                }
            } else {
                fields.values_mut().for_each(scrub);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nul_becomes_the_replacement_character_everywhere() {
        let mut v = serde_json::json!({"a\0": ["x\0y", {"b": "\0"}], "n": 1});
        super::scrub(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a\u{FFFD}": ["x\u{FFFD}y", {"b": "\u{FFFD}"}], "n": 1})
        );
    }
}
