//! Fulfillment locations (DCs and stores), their upsert request, and great-circle distance.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::ids::LocationId;
use crate::error::OmsError;

/// Mean Earth radius (IUGG), in kilometres.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;
/// Priority of a location that names none; lower ships first.
pub const DEFAULT_PRIORITY: u32 = 100;
/// Longest location name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum LocationType {
    #[serde(rename = "DC")]
    Dc,
    Store,
}

impl LocationType {
    pub const ALL: [LocationType; 2] = [LocationType::Dc, LocationType::Store];

    /// The type as the API spells it: `"DC"` or `"Store"`.
    pub fn id(self) -> &'static str {
        match self {
            LocationType::Dc => "DC",
            LocationType::Store => "Store",
        }
    }

    /// Stores hand orders over the counter; DCs only ship.
    pub fn default_can_pickup(self) -> bool {
        matches!(self, LocationType::Store)
    }

    /// Parses `"DC"` or `"Store"` case-insensitively; the error lists both.
    pub fn parse_at(field: &str, value: &str) -> Result<Self, OmsError> {
        Self::ALL.into_iter().find(|t| t.id().eq_ignore_ascii_case(value)).ok_or_else(|| {
            OmsError::validation(field, format!("unknown location type \"{value}\"; expected one of DC, Store"))
        })
    }
}

/// A fulfillment location. Its serde form (PascalCase) is the storage form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Location {
    pub location_id: LocationId,
    pub name: String,
    #[serde(rename = "Type")]
    pub location_type: LocationType,
    pub latitude: f64,
    pub longitude: f64,
    /// Lower ships first.
    pub priority: u32,
    pub can_ship: bool,
    pub can_pickup: bool,
    pub active: bool,
    pub version: u64,
    pub updated_timestamp: DateTime<Utc>,
}

/// The body of `PUT /inventory/api/location/{LocationId}`; unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UpsertLocationRequest {
    #[schema(schema_with = name_schema, required = true)]
    pub name: Option<String>,
    /// `"DC"` or `"Store"`, any case.
    #[serde(rename = "Type")]
    #[schema(value_type = LocationType, required = true)]
    pub location_type: Option<String>,
    #[schema(value_type = f64, required = true, minimum = -90, maximum = 90)]
    pub latitude: Option<f64>,
    #[schema(value_type = f64, required = true, minimum = -180, maximum = 180)]
    pub longitude: Option<f64>,
    /// Lower ships first; 100 when left out.
    #[schema(minimum = 0, maximum = 4294967295_i64)]
    pub priority: Option<i64>,
    pub can_ship: Option<bool>,
    pub can_pickup: Option<bool>,
    pub active: Option<bool>,
    /// When given on an update, must equal the stored version (optimistic concurrency).
    pub version: Option<u64>,
}

impl Location {
    /// Builds the location to store from a PUT body (replace semantics).
    ///
    /// Name, Type, Latitude and Longitude are required every time; Priority (100), CanShip
    /// (true), CanPickup (true for a Store, false for a DC) and Active (true) fall back to their
    /// defaults when left out. `previous` only supplies the version: new locations get 1,
    /// updates previous + 1, and a `Version` in the body must equal the stored one.
    pub fn from_request(
        id: LocationId,
        req: &UpsertLocationRequest,
        previous: Option<&Location>,
        now: DateTime<Utc>,
    ) -> Result<Location, OmsError> {
        let name = parse_name("Name", req.name.as_deref())?;
        let location_type = match req.location_type.as_deref() {
            Some(value) => LocationType::parse_at("Type", value)?,
            None => {
                return Err(OmsError::validation("Type", "is required; expected one of DC, Store"));
            }
        };
        let latitude = req.latitude.ok_or_else(|| OmsError::validation("Latitude", "is required"))?;
        check_latitude("Latitude", latitude)?;
        let longitude = req.longitude.ok_or_else(|| OmsError::validation("Longitude", "is required"))?;
        check_longitude("Longitude", longitude)?;
        let priority = match req.priority {
            None => DEFAULT_PRIORITY,
            Some(p) => u32::try_from(p).map_err(|_| {
                OmsError::validation("Priority", format!("must be between 0 and {}, got {p}", u32::MAX))
            })?,
        };
        if let Some(prev) = previous
            && let Some(sent) = req.version
            && sent != prev.version
        {
            return Err(OmsError::Conflict(format!(
                "Location {} is at version {}, not {sent}; read it again and retry",
                prev.location_id, prev.version
            )));
        }
        Ok(Location {
            location_id: id,
            name,
            location_type,
            latitude,
            longitude,
            priority,
            can_ship: req.can_ship.unwrap_or(true),
            can_pickup: req.can_pickup.unwrap_or_else(|| location_type.default_can_pickup()),
            active: req.active.unwrap_or(true),
            version: previous.map_or(1, |p| p.version + 1),
            updated_timestamp: now,
        })
    }

    /// `(latitude, longitude)` in degrees.
    pub fn coordinates(&self) -> (f64, f64) {
        (self.latitude, self.longitude)
    }

    /// Kilometres from this location to `point` (`(latitude, longitude)`).
    pub fn distance_km_to(&self, point: (f64, f64)) -> f64 {
        great_circle_km(self.coordinates(), point)
    }

    /// The location as the API returns it (PascalCase, timestamp with milliseconds).
    pub fn to_response(&self) -> LocationResponse {
        LocationResponse {
            location_id: self.location_id.clone(),
            name: self.name.clone(),
            location_type: self.location_type.id(),
            latitude: self.latitude,
            longitude: self.longitude,
            priority: self.priority,
            can_ship: self.can_ship,
            can_pickup: self.can_pickup,
            active: self.active,
            version: self.version,
            updated_timestamp: self.updated_timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }
}

/// A location as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct LocationResponse {
    pub location_id: LocationId,
    pub name: String,
    /// `"DC"` or `"Store"`.
    #[serde(rename = "Type")]
    pub location_type: &'static str,
    pub latitude: f64,
    pub longitude: f64,
    /// Lower ships first.
    pub priority: u32,
    pub can_ship: bool,
    pub can_pickup: bool,
    pub active: bool,
    pub version: u64,
    /// RFC 3339 with milliseconds.
    pub updated_timestamp: String,
}

/// The schema of `Name` as [`parse_name`] checks it.
fn name_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_NAME_CHARS))
        .pattern(Some(super::text::TEXT_PATTERN))
        .build()
}

fn parse_name(field: &str, value: Option<&str>) -> Result<String, OmsError> {
    let Some(value) = value else {
        return Err(OmsError::validation(field, "is required"));
    };
    if value.trim().is_empty() {
        return Err(OmsError::validation(field, "must not be blank"));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(OmsError::validation(field, format!("must be at most {MAX_NAME_CHARS} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(OmsError::validation(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

/// Latitude must lie in [-90, 90] degrees.
pub fn check_latitude(field: &str, value: f64) -> Result<(), OmsError> {
    if (-90.0..=90.0).contains(&value) {
        Ok(())
    } else {
        Err(OmsError::validation(field, format!("must be between -90 and 90, got {value}")))
    }
}

/// Longitude must lie in [-180, 180] degrees.
pub fn check_longitude(field: &str, value: f64) -> Result<(), OmsError> {
    if (-180.0..=180.0).contains(&value) {
        Ok(())
    } else {
        Err(OmsError::validation(field, format!("must be between -180 and 180, got {value}")))
    }
}

/// Great-circle distance in km between two `(latitude, longitude)` points in degrees
/// (haversine formula, mean Earth radius 6371.0088 km).
pub fn great_circle_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let half_dlat = (lat2 - lat1) / 2.0;
    let half_dlon = (lon2 - lon1) / 2.0;
    let h = half_dlat.sin().powi(2) + lat1.cos() * lat2.cos() * half_dlon.sin().powi(2);
    // Rounding can push h a hair above 1 for antipodal points; asin would then be NaN.
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::{Value, json};

    const ATLANTA: (f64, f64) = (33.749, -84.388);
    const NEW_YORK: (f64, f64) = (40.7128, -74.0060);

    fn id(value: &str) -> LocationId {
        LocationId::parse(value).unwrap()
    }

    fn t(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 31, 12, minute, 0).unwrap()
    }

    fn body(value: Value) -> UpsertLocationRequest {
        serde_json::from_value(value).unwrap()
    }

    fn store_body() -> Value {
        json!({"Name": "Midtown", "Type": "Store", "Latitude": 33.78, "Longitude": -84.38})
    }

    fn with(edit: impl FnOnce(&mut Value)) -> UpsertLocationRequest {
        let mut value = store_body();
        edit(&mut value);
        body(value)
    }

    fn create(req: &UpsertLocationRequest) -> Result<Location, OmsError> {
        Location::from_request(id("S1"), req, None, t(0))
    }

    fn error_field(result: Result<Location, OmsError>) -> String {
        match result {
            Err(err) => err.field().unwrap_or("<no field>").to_owned(),
            Ok(_) => "<accepted>".to_owned(),
        }
    }

    #[test]
    fn when_store_is_created_with_required_fields_should_apply_defaults() {
        let store = create(&body(store_body())).unwrap();
        assert_eq!(store.location_id, id("S1"));
        assert_eq!(store.name, "Midtown");
        assert_eq!(store.location_type, LocationType::Store);
        assert_eq!(store.coordinates(), (33.78, -84.38));
        assert_eq!(store.priority, 100);
        assert!(store.can_ship && store.can_pickup && store.active);
        assert_eq!(store.version, 1);
        assert_eq!(store.updated_timestamp, t(0));
    }

    #[test]
    fn when_dc_is_created_should_not_offer_pickup_by_default() {
        let dc = create(&with(|v| v["Type"] = json!("dc"))).unwrap();
        assert_eq!(dc.location_type, LocationType::Dc);
        assert!(!dc.can_pickup);
        assert!(dc.can_ship);
    }

    #[test]
    fn when_type_is_any_case_should_parse_else_refuse_listing_both() {
        for value in ["DC", "dc", "Dc", "STORE", "store"] {
            assert!(create(&with(|v| v["Type"] = json!(value))).is_ok(), "{value}");
        }
        let err = create(&with(|v| v["Type"] = json!("Warehouse"))).unwrap_err();
        assert_eq!(err.field(), Some("Type"));
        assert!(err.to_string().contains("DC, Store"), "{err}");
        let missing = with(|v| {
            v.as_object_mut().unwrap().remove("Type");
        });
        assert_eq!(error_field(create(&missing)), "Type");
    }

    #[test]
    fn when_optional_flags_are_given_should_use_them() {
        let req = with(|v| {
            v["Priority"] = json!(5);
            v["CanShip"] = json!(false);
            v["CanPickup"] = json!(false);
            v["Active"] = json!(false);
        });
        let store = create(&req).unwrap();
        assert_eq!(store.priority, 5);
        assert!(!store.can_ship && !store.can_pickup && !store.active);
    }

    #[test]
    fn when_priority_is_negative_should_refuse_naming_it() {
        assert_eq!(error_field(create(&with(|v| v["Priority"] = json!(-1)))), "Priority");
    }

    #[test]
    fn when_name_is_missing_blank_or_too_long_should_refuse_naming_it() {
        let missing = with(|v| {
            v.as_object_mut().unwrap().remove("Name");
        });
        assert_eq!(error_field(create(&missing)), "Name");
        assert_eq!(error_field(create(&with(|v| v["Name"] = json!("  ")))), "Name");
        let long = "n".repeat(201);
        assert_eq!(error_field(create(&with(|v| v["Name"] = json!(long)))), "Name");
        let longest = "n".repeat(200);
        assert!(create(&with(|v| v["Name"] = json!(longest))).is_ok());
    }

    #[test]
    fn when_coordinates_are_missing_or_out_of_range_should_refuse_naming_them() {
        for (name, bad) in [("Latitude", 91.0), ("Latitude", -90.5), ("Longitude", 180.5)] {
            assert_eq!(error_field(create(&with(|v| v[name] = json!(bad)))), name);
        }
        for name in ["Latitude", "Longitude"] {
            let missing = with(|v| {
                v.as_object_mut().unwrap().remove(name);
            });
            assert_eq!(error_field(create(&missing)), name);
        }
        assert!(create(&with(|v| v["Latitude"] = json!(-90))).is_ok());
    }

    #[test]
    fn when_location_is_updated_should_bump_version_and_replace_fields() {
        let first = create(&with(|v| v["Priority"] = json!(5))).unwrap();
        let req = with(|v| v["Name"] = json!("Midtown 2"));
        let second = Location::from_request(id("S1"), &req, Some(&first), t(3)).unwrap();
        assert_eq!(second.version, 2);
        assert_eq!(second.name, "Midtown 2");
        // PUT replaces: a priority left out returns to the default.
        assert_eq!(second.priority, 100);
        assert_eq!(second.updated_timestamp, t(3));
    }

    #[test]
    fn when_update_sends_a_stale_version_should_conflict() {
        let first = create(&body(store_body())).unwrap();
        let stale = with(|v| v["Version"] = json!(4));
        assert!(matches!(Location::from_request(id("S1"), &stale, Some(&first), t(3)), Err(OmsError::Conflict(_))));
        let current = with(|v| v["Version"] = json!(1));
        assert!(Location::from_request(id("S1"), &current, Some(&first), t(3)).is_ok());
    }

    #[test]
    fn storage_form_should_round_trip_and_spell_type_as_the_api_does() {
        let dc = create(&with(|v| v["Type"] = json!("DC"))).unwrap();
        let stored = serde_json::to_value(&dc).unwrap();
        assert_eq!(stored["Type"], "DC");
        assert_eq!(stored["LocationId"], "S1");
        let back: Location = serde_json::from_value(stored).unwrap();
        assert_eq!(back, dc);
    }

    #[test]
    fn response_should_be_pascal_case_with_millisecond_timestamp() {
        let body = serde_json::to_value(create(&body(store_body())).unwrap().to_response()).unwrap();
        assert_eq!(body["LocationId"], "S1");
        assert_eq!(body["Type"], "Store");
        assert_eq!(body["CanPickup"], true);
        assert_eq!(body["Priority"], 100);
        assert_eq!(body["UpdatedTimestamp"], "2025-01-31T12:00:00.000Z");
    }

    #[test]
    fn great_circle_from_atlanta_to_new_york_should_be_about_1200_km() {
        let km = great_circle_km(ATLANTA, NEW_YORK);
        assert!((km - 1200.0).abs() < 12.0, "{km}");
        assert!((great_circle_km(NEW_YORK, ATLANTA) - km).abs() < 1e-9);
    }

    #[test]
    fn great_circle_should_be_zero_for_one_point_and_half_the_earth_for_antipodes() {
        assert_eq!(great_circle_km(ATLANTA, ATLANTA), 0.0);
        let half = std::f64::consts::PI * EARTH_RADIUS_KM;
        let km = great_circle_km((0.0, 0.0), (0.0, 180.0));
        assert!((km - half).abs() < 1e-6, "{km}");
    }

    #[test]
    fn distance_to_a_point_should_use_the_location_coordinates() {
        let mut store = create(&body(store_body())).unwrap();
        store.latitude = ATLANTA.0;
        store.longitude = ATLANTA.1;
        assert_eq!(store.distance_km_to(NEW_YORK), great_circle_km(ATLANTA, NEW_YORK));
    }
}
