-- Each analysis job's starts, counted in the database before analysing
-- begins: a sample that crashes or kills the worker (a parser's stack
-- overflow) is redelivered by the broker with no in-process failure to count,
-- so only a count kept outside the worker can stop it. Past the limit the job
-- is dead-lettered with its reason; staff see dead jobs here.
CREATE TABLE analysis_jobs (
    job_id          UUID PRIMARY KEY,
    sha256          TEXT NOT NULL,
    submission_id   UUID,
    starts          INT NOT NULL DEFAULT 0,
    state           TEXT NOT NULL DEFAULT 'running'
                    CHECK (state IN ('running', 'retrying', 'done', 'dead')),
    last_error      TEXT,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX analysis_jobs_dead ON analysis_jobs (updated_at) WHERE state = 'dead';
