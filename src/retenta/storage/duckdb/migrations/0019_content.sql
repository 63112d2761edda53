-- Message content (issue #4): the versioned block library and messages built from blocks.

-- A reusable block; `version` is its latest version. A deleted block (never one in use)
-- keeps its row and versions, so the versions a sent message used stay readable.
CREATE TABLE content_blocks (
    workspace_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,             -- blk_...
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,           -- header | footer | product_card | ... | custom
    version INTEGER NOT NULL,        -- the latest version
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ,
    PRIMARY KEY (workspace_id, id)
);

-- Every version of a block, immutable once written (an edit appends version n + 1).
CREATE TABLE content_block_versions (
    workspace_id VARCHAR NOT NULL,
    block_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    description VARCHAR NOT NULL DEFAULT '',
    email JSON NOT NULL,             -- {language: MJML section(s) with Jinja}
    text JSON NOT NULL,              -- {language: plain text with Jinja} (text channels)
    params JSON NOT NULL,            -- {name: {"default": value | {"var": path}, "description"}}
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, block_id, version)
);

-- A message: every channel's content in every language; `revision` is the latest.
CREATE TABLE content_messages (
    workspace_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,             -- msg_...
    name VARCHAR NOT NULL,
    category VARCHAR NOT NULL,       -- transactional | trigger | promo
    revision INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ,
    PRIMARY KEY (workspace_id, id)
);

-- Every revision of a message (name, category, topic, tags, channels as one JSON document).
CREATE TABLE content_message_revisions (
    workspace_id VARCHAR NOT NULL,
    message_id VARCHAR NOT NULL,
    revision INTEGER NOT NULL,
    document JSON NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, message_id, revision)
);

-- Where each block is used: one row per (block, owner, channel) of the owner's latest
-- content. Owners are messages today; journeys and triggers register theirs the same way.
CREATE TABLE content_block_refs (
    workspace_id VARCHAR NOT NULL,
    block_id VARCHAR NOT NULL,
    owner_kind VARCHAR NOT NULL,     -- message | journey | trigger
    owner_id VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    PRIMARY KEY (workspace_id, block_id, owner_kind, owner_id, channel)
);
