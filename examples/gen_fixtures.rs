//! Writes a fixtures directory with N generated records, for benchmarks and for
//! trying the mock on a large store: 100 settings per customer, realistic names,
//! some nulls and encrypted values, timestamps spread over two years.
//!
//! cargo run --release --example gen_fixtures -- 1000000 /tmp/store-1m

use std::io::{BufWriter, Write};

use nexudus_mock::resource::{Record, Timestamp};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: i64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "bench-store".into()));
    std::fs::create_dir_all(&dir)?;
    let file = std::fs::File::create(dir.join("coworkersettings.json"))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    const KEYS: [&str; 10] = [
        "Portal.Theme",
        "Portal.Language",
        "Notifications.Email",
        "Booking.ReminderMinutes",
        "Display.Name",
        "Invoice.Address",
        "Dashboard.Widgets",
        "Wifi.Password",
        "Calendar.SyncUrl",
        "Favourite.Emoji",
    ];
    out.write_all(b"[")?;
    for i in 0..n {
        let t = Timestamp(1_700_000_000 + i * 37 % 63_000_000);
        let key = KEYS[(i % 10) as usize];
        let record = Record {
            coworker_id: 100_000 + i / 100,
            name: format!("{key}.{:02}", (i / 10) % 10),
            value: if i % 7 == 0 {
                None
            } else {
                Some(format!("value {} für Kunde {}", i % 997, i / 100))
            },
            encrypted_value: if i % 5 == 0 {
                Some(format!(
                    "enc:v1:{:016x}==",
                    (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ))
            } else {
                None
            },
            id: 1 + i,
            updated_on: Timestamp(t.0 + (i % 1000) * 60),
            created_on: t,
            unique_id: uuid::Uuid::from_u128(0x1234_5678_0000_4000_8000_0000_0000_0000 | i as u128),
            updated_by: Some("admin@example.com".into()),
            is_new: false,
            system_id: None,
            to_string_text: Some(format!("{key}.{:02}", (i / 10) % 10)),
            localization_details: (),
            custom_fields: (),
        };
        if i > 0 {
            out.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut out, &record)?;
    }
    out.write_all(b"]\n")?;
    out.flush()?;
    eprintln!(
        "wrote {n} records to {}",
        dir.join("coworkersettings.json").display()
    );
    Ok(())
}
