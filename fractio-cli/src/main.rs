//! The `fractio` command-line tool.

fn main() {
    println!("fractio: the bench command is coming");
}
