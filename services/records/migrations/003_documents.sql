-- Documents that passed the readability checks (a projection of DocumentUploaded events, in
-- the same transaction): events may only link hashes listed here.
CREATE TABLE {schema}.documents (
    sha256        text PRIMARY KEY,
    kind          text NOT NULL,
    content_type  text NOT NULL,
    size          bigint NOT NULL,
    pages         integer NOT NULL,
    width         integer,
    height        integer,
    file_name     text,
    uploaded_by   text NOT NULL,
    uploaded_at   timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT ON {schema}.documents TO {role};
