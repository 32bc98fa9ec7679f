//! `GET /settings` (staff, admin): what the dashboard must know of the server's
//! configuration to say what the server will do, such as how a phone number typed
//! without `+` is read. Nothing secret is here.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::problem::ApiError;
use crate::domain::AllowedCountries;
use crate::http::AppState;

#[derive(Serialize, ToSchema)]
#[serde(rename = "Settings")]
#[schema(as = Settings)]
pub struct SettingsView {
    /// The country of phone numbers written without `+` (`ORDER_NOTIFY_DEFAULT_REGION`);
    /// `null`: such numbers are refused.
    #[schema(example = "NL")]
    pub default_region: Option<String>,
    /// The countries whose numbers may be texted (`ORDER_NOTIFY_ALLOWED_COUNTRIES`);
    /// `null`: any country.
    #[schema(example = json!(["NL", "BE"]))]
    pub allowed_countries: Option<Vec<String>>,
    /// The IANA time zone texts tell times in (`{eta}`, `ORDER_NOTIFY_TIMEZONE`).
    #[schema(example = "Europe/Amsterdam")]
    pub timezone: String,
    /// Whether a status change texts the customer unless it says `notify: false`.
    pub auto_notify: bool,
    /// The provider that sends the texts (the first tried, when several do).
    #[schema(example = "sandbox")]
    pub sms_provider: String,
    /// The providers that send the texts, in the order they are tried
    /// (`ORDER_NOTIFY_SMS_PROVIDER`).
    #[schema(example = json!(["bird", "twilio"]))]
    pub sms_providers: Vec<String>,
    /// Texts one number may get in any rolling hour (`0`: no limit).
    pub texts_per_recipient_per_hour: u32,
}

/// What the dashboard must know of the server's configuration.
#[utoipa::path(
    get, path = "/settings", tag = "settings",
    responses(
        (status = 200, description = "The settings the dashboard works with", body = SettingsView),
        (status = 401, response = super::problem::Unauthorized),
        (status = 403, response = super::problem::Forbidden),
        (status = 429, response = super::problem::TooManyRequests),
        (status = 503, response = super::problem::ServiceUnavailable),
    ),
    security(("bearer" = []))
)]
pub async fn get_settings(
    state: web::Data<AppState>,
    // Only checks the key and its role (`routes::table`).
    _caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let settings = state.services.settings();
    let country = |id: &phonenumber::country::Id| format!("{id:?}");
    Ok(HttpResponse::Ok().json(SettingsView {
        default_region: settings.default_region.as_ref().map(country),
        allowed_countries: match &settings.allowed_countries {
            AllowedCountries::Any => None,
            AllowedCountries::Only(ids) => Some(ids.iter().map(country).collect()),
        },
        timezone: settings.timezone.name().to_owned(),
        auto_notify: settings.auto_notify,
        sms_provider: settings.sms.chosen().to_owned(),
        sms_providers: settings
            .sms
            .priority()
            .iter()
            .map(|name| (*name).to_owned())
            .collect(),
        texts_per_recipient_per_hour: settings.texts_per_recipient_per_hour,
    }))
}
