//! The store record codec (storage/src/store/codec.rs): the bytes RocksDB, Cassandra and the
//! SQL stores hold for a token, read back at start-up and on every read-through.
//!
//! Properties: decoding arbitrary bytes answers a record or `Corrupt`, never a panic; a
//! decoded record encodes to bytes that decode to the same record; `expires_at` (the purge's
//! shortcut) agrees with the full decode; and any record (strings up to the u16 length
//! prefix) round-trips through encode → decode.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tessera_storage::store::{codec, Token};
use tessera_storage::{GrantId, TokenKind};

#[derive(Debug, Arbitrary)]
struct Record {
    kind: u8,
    grant: u64,
    client: String,
    user: Option<String>,
    scope: String,
    meta: Option<String>,
    issued_at: u32,
    expires_at: u32,
}

#[derive(Debug, Arbitrary)]
enum Input<'a> {
    Bytes(&'a [u8]),
    Record(Record),
}

fuzz_target!(|input: Input<'_>| match input {
    Input::Bytes(bytes) => {
        let Ok(token) = codec::decode(bytes) else {
            return;
        };
        assert_eq!(codec::expires_at(bytes), Some(token.expires_at));
        let mut again = Vec::new();
        codec::encode(&token, &mut again);
        assert!(again.len() <= bytes.len(), "re-encoding grew the record");
        assert_eq!(codec::decode(&again).expect("re-encoded record"), token);
    }
    Input::Record(r) => {
        let kinds = [
            TokenKind::Access,
            TokenKind::Refresh,
            TokenKind::Used,
            TokenKind::Code,
            TokenKind::Session,
            TokenKind::Consent,
        ];
        let token = Token {
            kind: kinds[usize::from(r.kind) % kinds.len()],
            grant: GrantId(r.grant),
            client: r.client,
            user: r.user,
            scope: r.scope,
            meta: r.meta,
            issued_at: r.issued_at,
            expires_at: r.expires_at,
        };
        let mut bytes = Vec::new();
        codec::encode(&token, &mut bytes);
        let back = codec::decode(&bytes).expect("an encoded record decodes");
        assert_eq!(back, token.view());
        assert_eq!(codec::expires_at(&bytes), Some(token.expires_at));
    }
});
