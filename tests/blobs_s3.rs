//! The blob store's S3 path against a real S3-compatible server: Garage,
//! started by `bench/garage.sh`, which sets INTAKE_TEST_S3_* and runs this.
//! Without those variables the test says so and passes: Garage's build is
//! too long for `.ci/run`, so CI does not run it (the README says how to).

use intake::digest::Sha256;
use intake::store::blob::{BlobConfig, Blobs, Keyring};

fn s3() -> Option<BlobConfig> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    Some(BlobConfig::S3 {
        bucket: var("INTAKE_TEST_S3_BUCKET")?,
        endpoint: Some(var("INTAKE_TEST_S3_ENDPOINT")?),
        region: var("INTAKE_TEST_S3_REGION").unwrap_or_else(|| "garage".into()),
        access_key_id: Some(var("INTAKE_TEST_S3_KEY_ID")?),
        secret_access_key: Some(var("INTAKE_TEST_S3_SECRET")?),
        allow_http: true,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_round_trip_neutered_through_a_real_s3_server() {
    let Some(cfg) = s3() else {
        eprintln!(
            "INTAKE_TEST_S3_* not set: run bench/garage.sh to test the S3 path against Garage"
        );
        return;
    };
    let blobs =
        Blobs::open(&cfg, Keyring::default(), tokio::runtime::Handle::current()).expect("open");
    let out = tokio::task::spawn_blocking(move || {
        // A harmless sample: EICAR, unique per run so the put is a real one.
        let mut sample = intake::decide::unpack::PASSWORD.to_vec();
        sample.extend_from_slice(
            br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*",
        );
        sample.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        let sha = Sha256::of(&sample);
        blobs.put(&sha, &sample).expect("put");
        // Writing the same bytes again is a no-op, not an error.
        blobs.put(&sha, &sample).expect("put again");
        assert_eq!(blobs.get(&sha).expect("get"), sample);
        // A spooled (streamed) blob is kept under its digest too.
        let mut spool = blobs.spool().expect("spool");
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        spool.write(&big).expect("write");
        let (digest, size) = blobs.keep(spool).expect("keep");
        assert_eq!((digest, size), (Sha256::of(&big), big.len() as u64));
        assert_eq!(blobs.get(&digest).expect("get big"), big);
        // Nothing stored holds the sample's bytes as they came.
        let converted = blobs.neuter_all().expect("neuter_all");
        assert_eq!(converted.converted, 0, "{converted:?}");
        assert_eq!(converted.damaged, 0, "{converted:?}");
        assert!(converted.kept >= 2, "{converted:?}");
        // A blob never stored is an error, not empty bytes.
        assert!(blobs.get(&Sha256::of(b"never stored")).is_err());
    })
    .await;
    out.expect("the S3 checks");
}
