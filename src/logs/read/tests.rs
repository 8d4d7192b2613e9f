use super::*;

#[derive(Default)]
struct Lines(Vec<String>);

impl Output for Lines {
    fn line(&mut self, line: &[u8]) -> io::Result<()> {
        self.0.push(String::from_utf8_lossy(line).into_owned());
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn notice(&mut self, _: &str) {}
}

fn record(i: usize) -> String {
    let program = if i.is_multiple_of(3) { "worker" } else { "api" };
    format!(
        r#"{{"time":"2026-11-29T10:00:00.000Z","level":"info","msg":"line {i}","program":"{program}","instance":0,"pid":1,"requestId":"req-{}"}}"#,
        i % 10
    )
}

/// Files 1..=4 with 25 records each; 1 and 2 compressed; 4 unfinished (a torn last line).
fn family() -> (tempfile::TempDir, Family) {
    let dir = tempfile::tempdir().unwrap();
    let family = Family::new(dir.path(), "app.log");
    for seq in 1..=4u64 {
        let mut text: String = (0..25)
            .map(|i| record((seq as usize - 1) * 25 + i) + "\n")
            .collect();
        if seq == 4 {
            text.push_str("{\"torn");
        }
        if seq <= 2 {
            let mut gz = flate2::write::GzEncoder::new(
                std::fs::File::create(family.gz_path(seq)).unwrap(),
                flate2::Compression::fast(),
            );
            std::io::Write::write_all(&mut gz, text.as_bytes()).unwrap();
            gz.finish().unwrap();
        } else {
            std::fs::write(family.path(seq), text).unwrap();
        }
    }
    (dir, family)
}

fn msgs(lines: &Lines) -> Vec<String> {
    lines
        .0
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["msg"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn the_last_n_lines_span_files_in_order() {
    let (_dir, family) = family();
    let mut out = Lines::default();
    let position = history(&family, &Filter::default(), Some(60), &mut out).unwrap();
    let want: Vec<String> = (40..100).map(|i| format!("line {i}")).collect();
    assert_eq!(msgs(&out), want);
    let file4 = std::fs::read(family.path(4)).unwrap();
    let torn = file4.len() - "{\"torn".len();
    assert_eq!(
        position,
        Some(Position {
            seq: 4,
            offset: torn as u64
        })
    );
}

#[test]
fn filters_search_compressed_and_plain_files() {
    let (_dir, family) = family();
    let filter = Filter {
        request_id: Some("req-3".into()),
        programs: vec!["api".into()],
        ..Filter::default()
    };
    let mut all = Lines::default();
    history(&family, &filter, None, &mut all).unwrap();
    let want: Vec<String> = (0..100)
        .filter(|i| i % 10 == 3 && i % 3 != 0)
        .map(|i| format!("line {i}"))
        .collect();
    assert_eq!(msgs(&all), want);
    let mut last = Lines::default();
    history(&family, &filter, Some(2), &mut last).unwrap();
    assert_eq!(msgs(&last), want[want.len() - 2..]);
}

#[test]
fn reading_backwards_matches_reading_forwards_across_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let family = Family::new(dir.path(), "app.log");
    // 3.5 blocks of records of varied length, one longer than a block, and a torn tail.
    let mut text = String::new();
    let mut i = 0;
    while text.len() < BLOCK * 7 / 2 {
        i += 1;
        let pad = if i == 5000 {
            "y".repeat(BLOCK + 10)
        } else {
            "x".repeat(i % 300)
        };
        text.push_str(&format!(
            "{{\"time\":\"2026-11-29T10:00:00.000Z\",\"level\":\"info\",\"msg\":\"{i} {pad}\",\"program\":\"api\",\"instance\":0,\"pid\":1}}\n"
        ));
    }
    let whole = text.len() as u64;
    text.push_str("{\"torn");
    std::fs::write(family.path(1), &text).unwrap();
    for count in [1, 7, 4000, 5001, 100_000] {
        let mut out = Lines::default();
        let position = history(&family, &Filter::default(), Some(count), &mut out).unwrap();
        assert_eq!(
            position,
            Some(Position {
                seq: 1,
                offset: whole
            })
        );
        let want: Vec<String> = text
            .lines()
            .filter(|l| l.ends_with('}'))
            .map(str::to_owned)
            .collect();
        let want = &want[want.len().saturating_sub(count)..];
        assert_eq!(out.0.len(), want.len(), "count {count}");
        assert!(out.0 == want, "count {count}: lines differ");
    }
}

#[test]
fn an_empty_folder_has_no_history() {
    let dir = tempfile::tempdir().unwrap();
    let family = Family::new(dir.path().join("missing"), "app.log");
    let mut out = Lines::default();
    assert_eq!(
        history(&family, &Filter::default(), Some(5), &mut out).unwrap(),
        None
    );
}
