//! A crash at each step of the publish pipeline, simulated by leaving the
//! state a killed hub leaves behind, then `Publisher::recover`: every
//! interrupted publish is finished or rolled back, nothing is lost, and
//! `public/` is rewritten from the database.

mod common;

use hub::{Layout, Outcome, PublicFiles, PublishOptions, Publisher, ReleaseState, Store, Urls};
use release::{ReleaseName, SigningKey};
use std::time::{Duration, Instant};

struct Fixture {
    _tmp: tempfile::TempDir,
    layout: Layout,
    src: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let layout = Layout::new(tmp.path().join("hub"));
    layout.create().unwrap();
    let src = tmp.path().join("app-1");
    common::make_tree(&src, 5);
    Fixture {
        _tmp: tmp,
        layout,
        src,
    }
}

fn publisher(layout: &Layout, key: &str) -> Publisher {
    let store = Store::open(&layout.database()).unwrap();
    let key = SigningKey::from_file_text(key).unwrap();
    Publisher::new(
        layout.clone(),
        store,
        key,
        Urls::new("http://127.0.0.1:9", 9).unwrap(),
        PublishOptions {
            settle: Duration::ZERO,
            keep: 10,
            pack_below_per_mille: 250,
            hash_threads: 1,
        },
    )
}

fn name() -> ReleaseName {
    ReleaseName::new("app-1").unwrap()
}

/// Recovers, then publishes whatever is in incoming/; returns the published seqs.
fn recover_and_publish(layout: &Layout, key: &str) -> Vec<u64> {
    let mut p = publisher(layout, key);
    let mut seqs: Vec<u64> = p
        .recover()
        .unwrap()
        .into_iter()
        .map(|o| match o {
            Outcome::Published(r, _) => r.seq,
            Outcome::Rejected(r) => panic!("rejected: {}", r.reason),
        })
        .collect();
    // The first scan sees the entry, the second finds it settled.
    p.scan(Instant::now()).unwrap();
    for entry in p.scan(Instant::now()).unwrap() {
        match p.process(&entry) {
            Outcome::Published(r, _) => seqs.push(r.seq),
            Outcome::Rejected(r) => panic!("rejected: {}", r.reason),
        }
    }
    let mut public = PublicFiles::default();
    public.settings.max_items = 50;
    p.write_public(&mut public).unwrap();
    seqs
}

fn check_published_once(layout: &Layout) {
    let store = Store::open(&layout.database()).unwrap();
    let published = store.published().unwrap();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].seq, 1);
    assert_eq!(
        store.state_of("app-1").unwrap(),
        Some((ReleaseState::Published, Some(1)))
    );
    assert!(
        !layout.incoming().join("app-1").exists(),
        "source left in incoming/"
    );
    assert_eq!(
        std::fs::read_dir(layout.tmp()).unwrap().count(),
        0,
        "tmp/ not cleared"
    );
    let m = metainfo::Metainfo::from_bytes(&std::fs::read(layout.public_torrent(&name())).unwrap())
        .unwrap();
    assert_eq!(m.infohash(), published[0].infohash);
    let report = metainfo::verify(
        m.info(),
        &layout.releases(),
        &metainfo::HashOptions::default(),
        &(),
    )
    .unwrap();
    assert!(report.is_ok(), "data intact");
    assert!(layout.public_manifest(&name()).exists() && layout.public_signature(&name()).exists());
    let feed = std::fs::read_to_string(layout.public().join("feed.xml")).unwrap();
    assert!(feed.contains(&m.infohash().to_hex()));
    // The resume state lets the seeder start without hashing.
    assert!(swarm::resume_path(&layout.releases(), &m.infohash()).exists());
}

fn key_text() -> String {
    SigningKey::generate().unwrap().to_file_text()
}

#[test]
fn killed_before_the_rename_rolls_back_and_publishes_from_incoming() {
    let f = fixture();
    let key = key_text();
    std::fs::rename(&f.src, f.layout.incoming().join("app-1")).unwrap();
    Store::open(&f.layout.database())
        .unwrap()
        .begin_move(&name(), 1)
        .unwrap();
    assert_eq!(recover_and_publish(&f.layout, &key), vec![1]);
    check_published_once(&f.layout);
}

#[test]
fn killed_after_the_rename_finishes_the_publish() {
    let f = fixture();
    let key = key_text();
    Store::open(&f.layout.database())
        .unwrap()
        .begin_move(&name(), 1)
        .unwrap();
    std::fs::rename(&f.src, f.layout.release(&name())).unwrap();
    assert_eq!(recover_and_publish(&f.layout, &key), vec![1]);
    check_published_once(&f.layout);
}

#[test]
fn killed_during_a_cross_device_copy_discards_the_partial_copy() {
    let f = fixture();
    let key = key_text();
    std::fs::rename(&f.src, f.layout.incoming().join("app-1")).unwrap();
    Store::open(&f.layout.database())
        .unwrap()
        .begin_move(&name(), 1)
        .unwrap();
    let partial = f.layout.tmp().join("app-1");
    std::fs::create_dir_all(partial.join("bin")).unwrap();
    std::fs::write(partial.join("bin/app"), b"half").unwrap();
    assert_eq!(recover_and_publish(&f.layout, &key), vec![1]);
    check_published_once(&f.layout);
}

#[test]
fn killed_after_a_copy_but_before_removing_the_source_removes_it() {
    let f = fixture();
    let key = key_text();
    hub::copy_tree(&f.src, &f.layout.release(&name())).unwrap();
    std::fs::rename(&f.src, f.layout.incoming().join("app-1")).unwrap();
    Store::open(&f.layout.database())
        .unwrap()
        .begin_move(&name(), 1)
        .unwrap();
    assert_eq!(
        recover_and_publish(&f.layout, &key),
        vec![1],
        "published once, not twice"
    );
    check_published_once(&f.layout);
}

#[test]
fn killed_while_hashing_publishes_on_restart() {
    let f = fixture();
    let key = key_text();
    let store = Store::open(&f.layout.database()).unwrap();
    store.begin_move(&name(), 1).unwrap();
    std::fs::rename(&f.src, f.layout.release(&name())).unwrap();
    store.set_state("app-1", ReleaseState::Moved).unwrap();
    drop(store);
    assert_eq!(recover_and_publish(&f.layout, &key), vec![1]);
    check_published_once(&f.layout);
}

#[test]
fn killed_before_public_files_were_written_rewrites_them() {
    let f = fixture();
    let key = key_text();
    std::fs::rename(&f.src, f.layout.incoming().join("app-1")).unwrap();
    assert_eq!(recover_and_publish(&f.layout, &key), vec![1]);
    // As if the process died right after the database commit.
    for p in [
        f.layout.public_torrent(&name()),
        f.layout.public_manifest(&name()),
        f.layout.public_signature(&name()),
        f.layout.public().join("feed.xml"),
    ] {
        std::fs::remove_file(p).unwrap();
    }
    assert_eq!(recover_and_publish(&f.layout, &key), Vec::<u64>::new());
    check_published_once(&f.layout);
}
