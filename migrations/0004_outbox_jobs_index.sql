-- The relay's pending rows are the broker's only. Its scan used the index of
-- every pending row and skipped answers one by one: where answers wait (no
-- mail relay configured, or a relay down) each scan walked all of them —
-- 1.1 ms a scan with 9,000 waiting answers, as much as recording the inputs.
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending_jobs ON outbox (id) WHERE published_at IS NULL AND kind <> 'mail.answer';
