-- Issue 17 part 5: the integrity pact (pakta integritas). A fasilitator or an administrator
-- holds the role only while a pact for it is in force: signed by the person (a PDF rendered and
-- signed by the signing service, `document_id`) or recorded from paper by the bootstrap
-- (`paper_reference`). Withdrawn (by the person, or its document revoked) it no longer counts;
-- authenticate leaves the role out of the principal from that transaction on.
CREATE TABLE {schema}.integrity_pacts (
    pact_id          uuid PRIMARY KEY,
    account_id       text NOT NULL REFERENCES {schema}.accounts,
    role             text NOT NULL CHECK (role IN ('fasilitator', 'administrator')),
    opd_scope        text[] NOT NULL DEFAULT '{}',
    document_id      text,
    paper_reference  text,
    signed_at        timestamptz NOT NULL DEFAULT now(),
    withdrawn_at     timestamptz,
    withdrawn_reason text,
    CHECK (document_id IS NOT NULL OR paper_reference IS NOT NULL)
);
CREATE INDEX integrity_pacts_in_force ON {schema}.integrity_pacts (account_id, role)
    WHERE withdrawn_at IS NULL;
CREATE INDEX integrity_pacts_document ON {schema}.integrity_pacts (document_id);

GRANT SELECT, INSERT, UPDATE ON {schema}.integrity_pacts TO {role};

ALTER TABLE {schema}.access_review_items ADD COLUMN pacts jsonb NOT NULL DEFAULT '[]';
