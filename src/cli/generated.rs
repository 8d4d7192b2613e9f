//! The files generated from the clap definition: shell completions and man pages. A test
//! compares them with the committed `completions/` and `man/`, so they never drift from the CLI.

use std::path::PathBuf;

use clap_complete::Shell;

/// Every generated file: its path relative to the repository root, and its contents.
pub fn files() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for (shell, name) in [
        (Shell::Bash, "svc.bash"),
        (Shell::Zsh, "_svc"),
        (Shell::Fish, "svc.fish"),
    ] {
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut super::command(), "svc", &mut out);
        files.push((PathBuf::from("completions").join(name), out));
    }
    let command = super::command();
    files.push((PathBuf::from("man/svc.1"), man_page(command.clone())));
    for sub in command.get_subcommands() {
        let name = format!("svc-{}", sub.get_name());
        let page = sub
            .clone()
            .name(name.clone())
            .version(command.get_version().unwrap_or_default().to_owned());
        files.push((PathBuf::from(format!("man/{name}.1")), man_page(page)));
    }
    files
}

fn man_page(command: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    // Rendering into a Vec cannot fail.
    let _ = clap_mangen::Man::new(command).render(&mut out);
    out
}
